package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain"
)

// TestStreamedEvents: each event an application flushes reaches the client
// before the application writes the next one (server-sent events), over
// HTTP/1.1 (the fast path when testFast) and h2c (net/http), with chunked
// and with close-delimited bodies. The application writes event i+1 only
// once the client has read event i, so a proxy that holds an event back
// until the next one (or the end) never delivers it: the wait times out.
func TestStreamedEvents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h2c   bool
		close bool // body delimited by the connection's close
	}{
		{"http1-chunked", false, false},
		{"http1-close-delimited", false, true},
		{"h2c-chunked", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const events = 5
			got := make(chan int, events)
			up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				if tc.close {
					w.Header().Set("Connection", "close")
					hj, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					defer hj.Close()
					fmt.Fprint(hj, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
					for i := range events {
						fmt.Fprintf(hj, "data: %d\n\n", i)
						if !waitEvent(t, got, i) {
							return
						}
					}
					return
				}
				for i := range events {
					fmt.Fprintf(w, "data: %d\n\n", i)
					w.(http.Flusher).Flush()
					if !waitEvent(t, got, i) {
						return
					}
				}
			}))
			addr, _, _ := front(t, up, Config{})
			client := http.DefaultClient
			if tc.h2c {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				defer tr.CloseIdleConnections()
				client = &http.Client{Transport: tr}
			}
			res, err := client.Get("http://" + addr + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for i := range events {
				line, err := br.ReadString('\n')
				if err != nil || strings.TrimSpace(line) != fmt.Sprintf("data: %d", i) {
					t.Fatalf("event %d: %q %v", i, line, err)
				}
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				got <- i
			}
		})
	}
}

// waitEvent waits for the client to report event i (5 s: a proxy that holds
// events back never delivers it).
func waitEvent(t *testing.T, got <-chan int, i int) bool {
	select {
	case j := <-got:
		return j == i
	case <-time.After(5 * time.Second):
		t.Errorf("event %d not delivered to the client before the next was written", i)
		return false
	}
}

// TestStreamEndsCleanlyAtDeadline: an event stream still running at the
// drain's deadline is ended with a complete chunked encoding (the client
// reads a whole response, then the connection closes), on the fast path and
// on the net/http path, rather than cut mid-body or left without a head.
func TestStreamEndsCleanlyAtDeadline(t *testing.T) {
	for _, tc := range []struct{ name, req string }{
		{"fast", "GET /events HTTP/1.1\r\nHost: x\r\n\r\n"},
		// A chunked request body: always served by net/http.
		{"net/http", "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					fmt.Fprintf(w, "data: %d\n\n", i)
					w.(http.Flusher).Flush()
					if i == 0 {
						close(started)
					}
					select {
					case <-r.Context().Done():
						return
					case <-tick.C:
					}
				}
			}))
			addr, _, d, runErr := drainFront(t, up, drain.Options{Delay: -1, Deadline: 300 * time.Millisecond, ForceAfter: 5 * time.Second})
			c := dial(t, addr)
			fmt.Fprint(c, tc.req)
			<-started
			res := readResponse(t, c, "GET")
			d.Stop()
			b, err := io.ReadAll(res.Body)
			if err != nil || !strings.HasPrefix(string(b), "data: 0\n\n") {
				t.Fatalf("stream at the deadline: %d bytes %q..., %v; want a complete body", len(b), b[:min(len(b), 20)], err)
			}
			if _, err := c.r.ReadByte(); err != io.EOF {
				t.Errorf("after the stream: %v, want EOF", err)
			}
			if err := <-runErr; !errors.Is(err, drain.ErrDeadline) {
				t.Fatalf("Run: %v, want ErrDeadline", err)
			}
		})
	}
}
