package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// TestFastIOUsed checks that a clear-text TCP connection takes the raw
// path (the one bench/load-client measures) and answers like the net.Conn
// path: a response, a timeout, a reset.
func TestFastIOUsed(t *testing.T) {
	srv := tinyServer(t)
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: srv.addr()})
	defer c.close()
	if c.fast == nil {
		t.Fatal("a plain TCP connection does not use the fast I/O")
	}
	req := Request{}.bytes("GET", c.host)
	for range 3 {
		h, err := c.exchange(req, time.Now().Add(time.Minute))
		if err != nil || h.status != 200 || h.close {
			t.Fatalf("exchange: status %d close %v err %v", h.status, h.close, err)
		}
	}
}

// TestFastIOTimeoutAndReset: a server that never answers is a timeout at
// the deadline; one that resets is a reset.
func TestFastIOTimeoutAndReset(t *testing.T) {
	silent := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	nc, err := net.Dial("tcp", silent.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: silent.addr()})
	defer c.close()
	start := time.Now()
	_, err = c.exchange(Request{}.bytes("GET", c.host), start.Add(100*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) || classify(err) != Timeout {
		t.Fatalf("silent server: err %v (%s), want a timeout", err, classify(err))
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("timed out after %v, before the deadline", took)
	}

	resetting := newRawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n') // the request line arrived
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	nc, err = net.Dial("tcp", resetting.addr())
	if err != nil {
		t.Fatal(err)
	}
	c = newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: resetting.addr()})
	defer c.close()
	_, err = c.exchange(Request{}.bytes("GET", c.host), time.Now().Add(5*time.Second))
	if !errors.Is(err, syscall.ECONNRESET) || classify(err) != Reset {
		t.Fatalf("resetting server: err %v (%s), want a reset", err, classify(err))
	}
}

// TestFastIOFullSendBuffer sends a request larger than the socket's send
// buffer (and the server's receive buffer): the raw send writes part of it, the rest goes through the poller's blocking write, and the
// response is read after the whole request arrived.
func TestFastIOFullSendBuffer(t *testing.T) {
	const size = 32 << 20
	got := make(chan int, 1)
	srv := newRawServer(t, func(c net.Conn) {
		n, _ := io.ReadFull(c, make([]byte, size))
		got <- n
		c.Write([]byte(okResponse))
	})
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: srv.addr()})
	defer c.close()
	req := bytes.Repeat([]byte("x"), size)
	h, err := c.exchange(req, time.Now().Add(20*time.Second))
	if err != nil || h.status != 200 {
		t.Fatalf("exchange: status %d err %v", h.status, err)
	}
	if n := <-got; n != size {
		t.Fatalf("server read %d bytes, want %d", n, size)
	}
}
