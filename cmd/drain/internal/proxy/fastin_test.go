package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFastPipelinedWhileServing: a request that arrives while the one
// before it on the same connection waits for the application is answered.
// The fast path waits for the client without trying a read first once a
// read came back short; that is only safe if the readiness the poller saw
// while the first request was being served is kept until the wait (a
// wait-first after Go's usual reset of it would wait for ever here).
func TestFastPipelinedWhileServing(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}))
	addr, _, _, f := frontWith(t, up, Config{}, &FastConfig{})
	for i := range 5 {
		c := dial(t, addr)
		fmt.Fprint(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		<-arrived
		fmt.Fprint(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		// The second request's bytes are in the proxy's socket (and the
		// poller has had every chance to see them) before the first is
		// answered.
		waitReadable(t, f, uint64(2*i))
		release <- struct{}{}
		for _, want := range []string{"/slow", "/next"} {
			res := readResponse(t, c, "GET")
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != want {
				t.Fatalf("round %d: got %q, %v; want %q", i, b, err, want)
			}
		}
		c.Close()
	}
	if served, handed := f.Counts(); served != 10 || handed != 0 {
		t.Errorf("fast path served %d, handed over %d; want 10, 0", served, handed)
	}
}

// waitReadable returns once a connection of f has bytes waiting in its
// socket, and the fast path has served served requests before them.
func waitReadable(t *testing.T, f *Fast, served uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		ready := false
		for c := range f.conns {
			ready = ready || newPeeker(c.c).hasData()
		}
		f.mu.Unlock()
		if n, _ := f.Counts(); ready && n == served {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the second request never reached the proxy's socket")
}

// TestFastBodyInPieces: a request body that arrives in pieces, the head
// and the next request split at every point, is forwarded whole.
func TestFastBodyInPieces(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	addr, _, _, f := frontWith(t, up, Config{}, &FastConfig{})
	body := strings.Repeat("b", 3000)
	stream := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, cut := range []int{1, 20, 49, 50, 51, 52, 1000, len(stream) - 40, len(stream) - 1} {
		c := dial(t, addr)
		io.WriteString(c, stream[:cut])
		if cut < 51 {
			// Only the head's first part: the proxy has read it, and waits.
			waitBuffered(t, f)
		}
		io.WriteString(c, stream[cut:])
		for _, want := range []string{"/a " + body, "/b "} {
			res := readResponse(t, c, "GET")
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != want {
				t.Fatalf("cut at %d: got %.40q (%d bytes), %v; want %.40q", cut, b, len(b), err, want)
			}
		}
		c.Close()
	}
	if _, handed := f.Counts(); handed != 0 {
		t.Errorf("%d connections handed to net/http; want all served by the fast path", handed)
	}
}

// waitBuffered returns once a connection of f has read part of a head.
func waitBuffered(t *testing.T, f *Fast) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		head := false
		for c := range f.conns {
			head = head || c.state.Load() == stateHead
		}
		f.mu.Unlock()
		if head {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no connection ever held part of a head")
}
