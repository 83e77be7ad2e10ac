package drain

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// The tests in this file pin down the net/http behaviours the drain fixes:
// each one runs the same client against plain http.Server.Shutdown and
// asserts the request is lost there, so the matching drain test can fail.

func startStdlib(t *testing.T) (addr string, shutdown func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hello}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go srv.Shutdown(ctx)
		// Shutdown closes the listener first; wait until it has.
		for {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			c.Close()
			time.Sleep(time.Millisecond)
		}
	}
}

func TestStdlibShutdownClosesIdleConnection(t *testing.T) {
	addr, shutdown := startStdlib(t)
	c := dialRaw(t, addr)
	c.write(get)
	c.response()
	shutdown()
	if !c.closedByServer() {
		t.Fatal("Shutdown left the idle connection open: the drain's idle test would not fail against it")
	}
}

// TestStdlibShutdownDropsHalfSentRequest: the connection counts as idle
// while its headers arrive, so Shutdown closes it; and a request whose
// headers complete after Shutdown began is dropped unanswered
// (`if c.server.shuttingDown() { return }` in conn.serve).
func TestStdlibShutdownDropsHalfSentRequest(t *testing.T) {
	addr, shutdown := startStdlib(t)
	c := dialRaw(t, addr)
	c.write(get)
	c.response()
	c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
	time.Sleep(50 * time.Millisecond) // let the bytes reach the server
	shutdown()
	time.Sleep(300 * time.Millisecond)
	_, _ = c.c.Write([]byte("sent\r\n\r\n"))
	if _, err := c.tryResponse(); err == nil {
		t.Fatal("Shutdown answered the half-sent request: the drain's test would not fail against it")
	}
}

// TestStateNewConnectionWithPartialHeadersSurvives5s covers Go issue 22682:
// Shutdown treats a connection in StateNew for over 5 s as idle and closes
// it, even when part of a request has arrived. The drain keeps it.
func TestStateNewConnectionWithPartialHeadersSurvives5s(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 6 s; covered in CI")
	}
	h := start(t, Options{Idle: IdleImmediate}, hello)
	c := dialRaw(t, h.addr)
	c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	time.Sleep(100 * time.Millisecond)
	h.d.Stop()
	h.waitPhase(PhaseClosing)
	time.Sleep(5500 * time.Millisecond) // past net/http's 5 s StateNew rule
	c.write("1\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
}
