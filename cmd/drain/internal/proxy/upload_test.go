package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/drainhttp/drain"
)

// TestUploadPastDeadline pins drain exec's rule for an upload still
// arriving at the drain's deadline: the request is cancelled (the
// application's connection is closed), the client gets 502 Bad Gateway
// with Connection: close (the application had received part of it, so not
// a 503) at the deadline, not when the drain forces, and the drain ends.
func TestUploadPastDeadline(t *testing.T) {
	reading := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		r.Body.Read(buf)
		close(reading)
		io.Copy(io.Discard, r.Body) // never ends: the client keeps sending
	}))
	const deadline = 300 * time.Millisecond
	addr, _, d, runErr := drainFront(t, up, drain.Options{Delay: -1, Deadline: deadline, ForceAfter: 10 * time.Second})
	c := dial(t, addr)
	fmt.Fprint(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
	<-reading
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := fmt.Fprint(c, "1\r\na\r\n"); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	d.Stop()
	res := readResponse(t, c, "POST")
	if res.StatusCode != http.StatusBadGateway || !res.Close {
		t.Errorf("upload at the deadline: %d close=%v, want 502 with Connection: close", res.StatusCode, res.Close)
	}
	if after := time.Since(start); after > deadline+2*pollMax {
		t.Errorf("answered %v after the drain began, want at the deadline (%v, + the forwarder's poll)", after, deadline)
	}
	if err := <-runErr; !errors.Is(err, drain.ErrDeadline) {
		t.Fatalf("Run: %v, want ErrDeadline", err)
	}
}
