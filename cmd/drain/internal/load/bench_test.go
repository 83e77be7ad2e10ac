package load

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// tinyServer answers every GET with okResponse, allocating nothing per
// request, so that allocation counts measure the client.
func tinyServer(tb testing.TB) *rawServer {
	return newRawServer(tb, func(c net.Conn) {
		buf := make([]byte, 4096)
		resp, end := []byte(okResponse), []byte("\r\n\r\n")
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			if bytes.HasSuffix(buf[:n], end) {
				n = 0
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
}

func TestExchangeAllocs(t *testing.T) {
	srv := tinyServer(t)
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: srv.addr()})
	defer c.close()
	req := Request{}.bytes("GET", c.host)
	deadline := time.Now().Add(time.Minute)
	allocs := testing.AllocsPerRun(200, func() {
		if !c.idle.usable() {
			t.Fatal("connection not usable")
		}
		if _, err := c.exchange(req, deadline); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations per request (probe + exchange), want 0", allocs)
	}
}

func BenchmarkReadResponse(b *testing.B) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, world!"
	var sr strings.Reader
	var rr respReader
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		sr.Reset(resp)
		rr.reset(&sr)
		if _, err := rr.readResponse(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchange is one request-response over a loopback keep-alive
// connection, probe included: the client's cost per request.
func BenchmarkExchange(b *testing.B) {
	srv := tinyServer(b)
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		b.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: srv.addr()})
	defer c.close()
	req := Request{}.bytes("GET", c.host)
	deadline := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if !c.idle.usable() {
			b.Fatal("connection not usable")
		}
		if _, err := c.exchange(req, deadline); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun measures a whole run at a fixed high rate: the achieved
// rate and the share of requests sent late by more than 1ms.
func BenchmarkRun(b *testing.B) {
	srv := tinyServer(b)
	for b.Loop() {
		cfg := Config{Rate: 30000, Duration: time.Second, Conns: 16}
		start := time.Now()
		rs, err := Run(context.Background(), cfg, srv.target())
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		var ok, late int
		for _, r := range rs {
			if r.Outcome == OK {
				ok++
			}
			if r.Sent-r.Intended > time.Millisecond {
				late++
			}
		}
		b.ReportMetric(float64(ok)/took.Seconds(), "ok/s")
		b.ReportMetric(float64(late)/float64(len(rs)), "late-share")
	}
}
