package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
// buffer (and the server's receive buffer): the raw send, eager or lazy,
// writes part of it, the rest goes through the poller's blocking write, and
// the response is read after the whole request arrived.
func TestFastIOFullSendBuffer(t *testing.T) {
	const size = 32 << 20
	for _, lazy := range []bool{false, true} {
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
		if lazy {
			c.fast.setLazy()
		}
		req := bytes.Repeat([]byte("x"), size)
		h, err := c.exchange(req, time.Now().Add(20*time.Second))
		if err != nil || h.status != 200 {
			t.Fatalf("lazy %v: exchange: status %d err %v", lazy, h.status, err)
		}
		if n := <-got; n != size {
			t.Fatalf("lazy %v: server read %d bytes, want %d", lazy, n, size)
		}
	}
}

// TestH2LargeBodies: responses larger than a stream's window (1 MiB, the
// client's SETTINGS) and, together, larger than the connection's 1 MiB
// give-back step complete over h2c: the stream's window is given back per
// DATA frame and the connection's in steps, through the buffered raw reader
// and the raw writer.
func TestH2LargeBodies(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 3<<20)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	cfg := Config{Rate: 40, Duration: 250 * time.Millisecond, Conns: 4, H2Conns: 1, Protocol: ProtocolH2C,
		Idle: -1, HalfSent: -1, SlowBody: -1, RequestTimeout: 10 * time.Second}
	rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 10 {
		t.Fatalf("%d results, want 10", len(rs))
	}
	for _, r := range rs {
		if r.Outcome != OK || r.Status != 200 {
			t.Errorf("request %d: %v, status %d", r.Seq, r.Outcome, r.Status)
		}
	}
}
