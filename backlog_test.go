package drain

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// Connections whose handshake completed but that nobody accepted yet sit in
// the kernel's accept queue; closing the listening socket resets them, and
// their clients may have sent a request already. With no lame duck the
// listeners close the moment the drain begins, so every such connection is
// exposed. The drain must take them and serve them.
func TestQueuedConnectionsAreServedWhenListenersClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue is taken on Linux only (backlog_other.go)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Delay: -1, Logger: quietLog, Signals: []os.Signal{}})
	d.Add(&http.Server{Handler: hello}, ln)
	// Nothing accepts yet: these wait in the accept queue, requests sent.
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(get)); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	d.Stop() // the drain begins as soon as Run serves: listeners close at once
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	lost := 0
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("conn %d: request lost: %v", i, err)
			lost++
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("conn %d: status %d", i, resp.StatusCode)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d queued connections lost", lost, n)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}
