package drain

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
)

// benchServer serves h on loopback, through a Drainer when drained is set,
// else with plain net/http.
func benchServer(b *testing.B, drained bool, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if !drained {
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
	d.Add(srv, ln)
	done := make(chan struct{})
	go func() { d.Run(context.Background()); close(done) }()
	b.Cleanup(func() { d.Stop(); <-done })
	return ln.Addr().String()
}

var helloBytes = []byte("Hello, World!")

var plainHello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(helloBytes) })

// BenchmarkRequest measures one keep-alive GET, client and server in this
// process: ns/op and allocs/op of the whole exchange. The difference
// between drain and plain is the cost of the per-connection read wrapper,
// the ConnState hook and the handler wrapper.
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []struct {
		name    string
		drained bool
	}{{"plain", false}, {"drain", true}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := benchServer(b, mode.drained, plainHello)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 4096)
			exchange := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				// The response is small and fixed-size: read until its body.
				n := 0
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if len(line) == 2 {
						break
					}
					n++
				}
				if _, err := io.ReadFull(br, buf[:len(helloBytes)]); err != nil {
					b.Fatal(err)
				}
			}
			exchange()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				exchange()
			}
		})
	}
}

// BenchmarkConnection measures accepting, serving one request and closing a
// connection: the per-connection bookkeeping.
func BenchmarkConnection(b *testing.B) {
	for _, mode := range []struct {
		name    string
		drained bool
	}{{"plain", false}, {"drain", true}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := benchServer(b, mode.drained, plainHello)
			req := []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Write(req)
				io.Copy(io.Discard, c)
				c.Close()
			}
		})
	}
}
