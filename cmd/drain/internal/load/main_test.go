package load

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine (a Run's workers, hard-case
// players, Transport loops, test servers) survives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// staticTarget always picks the same endpoint.
type staticTarget struct {
	ep    endpoint.Endpoint
	empty bool
}

func (t staticTarget) Pick() (endpoint.Endpoint, bool) { return t.ep, !t.empty }

// signalTarget closes started on its first Pick: the run has begun.
type signalTarget struct {
	endpoint.Target
	once    sync.Once
	started chan struct{}
}

func (t *signalTarget) Pick() (endpoint.Endpoint, bool) {
	t.once.Do(func() { close(t.started) })
	return t.Target.Pick()
}

// rawServer is a TCP server on 127.0.0.1 that runs handle on each accepted
// connection. Cleanup closes the listener and every connection and waits
// for all its goroutines.
type rawServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newRawServer(t testing.TB, handle func(net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func (s *rawServer) target() endpoint.Target {
	return staticTarget{ep: endpoint.Endpoint{Addr: s.addr(), Replica: 7}}
}

func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveHTTP answers each request on c with respond's bytes, until respond
// returns nil (then it returns, closing c) or the connection ends.
func serveHTTP(c net.Conn, respond func(n int, req *http.Request) []byte) {
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		b := respond(n, req)
		if b == nil {
			return
		}
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
