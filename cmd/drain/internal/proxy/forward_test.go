package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is an application written against raw sockets: serve runs
// for each accepted connection, which it owns. It returns the address and
// a counter of accepted connections.
func rawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String(), &accepted
}

// scripted answers each request on a connection with the next response of
// script, written as is, and closes the connection after the last.
func scripted(script ...string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for _, res := range script {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, res); err != nil {
				return
			}
		}
	}
}

// roundTrip sends raw on a new connection to addr and reads one response.
func roundTrip(t *testing.T, addr, raw, method string) (*http.Response, string) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res := readResponse(t, c, method)
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res, string(b) + " <" + err.Error() + ">"
	}
	return res, string(b)
}

// TestResponseFraming: every way an HTTP/1.1 response can delimit its body
// reaches the client intact, and a 1xx the client may see is forwarded.
func TestResponseFraming(t *testing.T) {
	for _, tc := range []struct {
		name, method, upstream string
		status                 int
		body                   string
		header                 map[string]string
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/x\r\n\r\nhello", 200, "hello", map[string]string{"Content-Type": "text/x"}},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, "abcde", nil},
		{"until-close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end", 200, "to the end", nil},
		{"http/1.0", "GET", "HTTP/1.0 200 OK\r\n\r\nold style", 200, "old style", nil},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", 200, "", map[string]string{"Content-Length": "42"}},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", nil},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n", 304, "", map[string]string{"Etag": `"x"`}},
		{"unasked-100-dropped", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", nil},
		{"no-content-type-no-sniffing", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html></html>\r\n", 200, "<html></html>\r\n", map[string]string{"Content-Type": ""}},
		{"lowercase-fields", "GET", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-thing: 1\r\n\r\nok", 200, "ok", map[string]string{"X-Thing": "1"}},
		{"repeated-fields", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n", 200, "", map[string]string{"Set-Cookie": "a=1|b=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, _ := rawUpstream(t, scripted(tc.upstream))
			addr, _, _ := front(t, up, Config{})
			res, body := roundTrip(t, addr, tc.method+" / HTTP/1.1\r\nHost: x\r\n\r\n", tc.method)
			if res.StatusCode != tc.status || body != tc.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tc.status, tc.body)
			}
			for k, v := range tc.header {
				if got := strings.Join(res.Header.Values(k), "|"); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestEarlyHints: a 103 reaches the client before the final response,
// and its fields are not repeated in the final one.
func TestEarlyHints(t *testing.T) {
	up, _ := rawUpstream(t, scripted("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	head, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "HTTP/1.1 103") {
		t.Fatalf("first line %q %v", head, err)
	}
	var hint string
	for line := ""; line != "\r\n"; {
		if line, err = c.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "Link:") {
			hint = line
		}
	}
	if hint == "" {
		t.Error("103 without its Link field")
	}
	res := readResponse(t, c, "GET")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "ok" || res.Header.Get("Link") != "" {
		t.Errorf("final: %d %q %v", res.StatusCode, b, res.Header)
	}
}

// TestBadResponses: what the application sends that is not a usable
// response becomes a 502 that says so, never a hang or a garbled answer.
func TestBadResponses(t *testing.T) {
	for _, tc := range []struct{ name, upstream, want string }{
		{"not-http", "SSH-2.0-OpenSSH\r\n\r\n", "malformed"},
		{"conflicting-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "malformed"},
		{"folded-field", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", "malformed"},
		{"transfer-coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "only chunked"},
		{"unasked-switch", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "switched protocols"},
		{"closed-mid-head", "HTTP/1.1 200 OK\r\nContent-Le", "before its response head was complete"},
		{"closed-before-answer", "", "without answering"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, tc.upstream)
			})
			addr, p, _ := front(t, up, Config{})
			res, body := roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			if res.StatusCode != 502 || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want 502 containing %q", res.StatusCode, body, tc.want)
			}
			if p.Failed() != 1 {
				t.Errorf("failed %d", p.Failed())
			}
		})
	}
}

// TestResponseCut: an application that dies in the middle of a body does
// not make a complete-looking response: the client connection is closed
// before the promised length.
func TestResponseCut(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
	})
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res := readResponse(t, c, "GET")
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "only part" {
		t.Errorf("%d %q %v: want the part and an unexpected EOF", res.StatusCode, b, err)
	}
}

// TestConnectionReuse: sequential requests, with and without bodies, share
// one pooled connection to the application; a response with
// "Connection: close" takes its connection out of the pool.
func TestConnectionReuse(t *testing.T) {
	up, accepted := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			if req.URL.Path == "/close" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		}
	})
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	for i, req := range []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"PUT /d HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("z", 20000),
		"GET /close HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /e HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		io.WriteString(c, req)
		res := readResponse(t, c, "GET")
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("the application accepted %d connections, want 2 (one until /close, one after)", n)
	}
}

// TestEarlyAnswer: the application answers before reading a large
// streamed body (413, say); the client gets the answer, the proxy stops
// sending the body, and nothing hangs.
func TestEarlyAnswer(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 8\r\n\r\ntoo big\n")
	})
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	// The client sends the head and the start of a 10 MB body, then stops.
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"+strings.Repeat("x", 64<<10))
	res := readResponse(t, c, "POST")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || string(b) != "too big\n" {
		t.Errorf("%d %q", res.StatusCode, b)
	}
	// The rest of the body is never read: the connection ends here rather
	// than parse it as requests.
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("the client connection carried on after an unread body")
	}
}

// TestExpectContinueIgnored: an application that never answers "Expect:
// 100-continue" and just waits for the body gets it after
// DefaultExpectContinueTimeout, and the client its 100 then.
func TestExpectContinueIgnored(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
	})
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	start := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	if d := time.Since(start); d < DefaultExpectContinueTimeout {
		t.Errorf("100 Continue after %v, before the application could answer (%v)", d, DefaultExpectContinueTimeout)
	}
	for line != "\r\n" {
		line, _ = c.r.ReadString('\n')
	}
	io.WriteString(c, "hello")
	res := readResponse(t, c, "POST")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("%d %q", res.StatusCode, b)
	}
}

// TestClientBodyCut: a client that announces a body and goes away before
// sending it leaves nothing hanging: the application sees its request end
// short, and the proxy answers 400 where the client could still read it.
func TestClientBodyCut(t *testing.T) {
	sawShort := make(chan error, 2)
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, req.Body)
		sawShort <- err
	})
	addr, _, _ := front(t, up, Config{})
	for _, tc := range []struct{ name, req string }{
		{"streamed", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 40000)},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tc.req)
		c.(*net.TCPConn).CloseWrite()
		select {
		case err := <-sawShort:
			if err == nil {
				t.Errorf("%s: the application read a complete body", tc.name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the application's request never ended", tc.name)
		}
		c.Close()
	}
}

// TestClientGoneCancels: when the client goes away while the application
// is still working, the proxy closes its connection to the application
// instead of waiting for an answer nobody reads.
func TestClientGoneCancels(t *testing.T) {
	upClosed := make(chan struct{})
	got := make(chan struct{})
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		close(got)
		if _, err := br.ReadByte(); err != nil { // blocks until the proxy closes
			close(upClosed)
		}
	})
	addr, _, _ := front(t, up, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-got
	c.Close()
	select {
	case <-upClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("the application's connection stayed open after the client left")
	}
}

// TestPoolExpiry: a pooled connection unused for the pool's timeout is
// closed by the proxy (the application sees EOF), so it never lingers in
// CLOSE_WAIT or races the application's own keep-alive timeout.
func TestPoolExpiry(t *testing.T) {
	eof := make(chan time.Time, 1)
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		if _, err := br.ReadByte(); err == io.EOF {
			eof <- time.Now()
		}
	})
	addr, p, _ := front(t, up, Config{})
	p.pool.timeout = 100 * time.Millisecond
	sent := time.Now()
	res, _ := roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	select {
	case at := <-eof:
		if d := at.Sub(sent); d < p.pool.timeout {
			t.Errorf("closed after %v, before the idle timeout %v", d, p.pool.timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the idle pooled connection was never closed")
	}
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	if len(p.pool.idle) != 0 || p.pool.sweep != nil {
		t.Errorf("pool after expiry: %d idle, sweep armed %v", len(p.pool.idle), p.pool.sweep != nil)
	}
}

// TestRequestHead: what the application receives, byte for byte where it
// matters: the request target as sent, Host, no hop-by-hop fields, framing
// recomputed, TE: trailers kept.
func TestRequestHead(t *testing.T) {
	heads := make(chan string, 1)
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		var head bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	addr, _, _ := front(t, up, Config{})
	roundTrip(t, addr, "GET /a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\nTE: trailers\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n", "GET")
	head := <-heads
	for _, want := range []string{"GET /a%2Fb?x=1&y=%20 HTTP/1.1\r\n", "\r\nHost: example.test\r\n", "\r\nTe: trailers\r\n", "\r\nX-End: 2\r\n", "\r\nX-Forwarded-For: 127.0.0.1\r\n", "\r\nX-Forwarded-Host: example.test\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("head lacks %q:\n%s", want, head)
		}
	}
	for _, bad := range []string{"X-Hop", "Connection", "Content-Length", "Transfer-Encoding"} {
		if strings.Contains(head, bad) {
			t.Errorf("head has %q:\n%s", bad, head)
		}
	}
}

// BenchmarkForwardGET: one keep-alive client connection through the proxy
// to a raw application answering a small response; allocations per
// request are the forwarder's and net/http's server side.
func BenchmarkForwardGET(b *testing.B) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Wed, 25 Nov 2026 02:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, world\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Requests have no body: read the head up to the empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := io.WriteString(c, answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	addr, _, _ := front(b, ln.Addr().String(), Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// TestRequestTargetEscaped: a request target net/http accepted with a
// space in it (an HTTP/2 :path may have one) is written escaped, so the
// application's request line has exactly three parts.
func TestRequestTargetEscaped(t *testing.T) {
	p := New(Config{Upstream: "127.0.0.1:1", Log: quietLog})
	r, err := http.NewRequest("GET", "http://x/a%20b?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RequestURI = "/a b?q=1"
	head := string(p.appendHead(nil, r, false))
	if line, _, _ := strings.Cut(head, "\r\n"); line != "GET /a%20b?q=1 HTTP/1.1" {
		t.Errorf("request line %q", line)
	}
}

// TestPeekOnlyAfterIdle: a pooled connection reused at once is not checked
// for a close (a system call per request under load); one idle for
// peekAfter or longer is.
func TestPeekOnlyAfterIdle(t *testing.T) {
	up, _ := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	var checks atomic.Int32
	testHookFirstWrite = func(net.Conn) { checks.Add(1) }
	defer func() { testHookFirstWrite = nil }()
	addr, p, _ := front(t, up, Config{})
	c := dial(t, addr)
	for _, tc := range []struct {
		after time.Duration
		want  int32
	}{{time.Hour, 0}, {0, 2}} {
		p.pool.peekAfter = tc.after
		checks.Store(0)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res := readResponse(t, c, "GET")
		io.Copy(io.Discard, res.Body)
		// The very first request dials; every other one reuses its
		// connection.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res = readResponse(t, c, "GET")
		io.Copy(io.Discard, res.Body)
		if got := checks.Load(); got != tc.want {
			t.Errorf("peekAfter %v: %d checks, want %d", tc.after, got, tc.want)
		}
	}
}

// TestSlowAnswer: an answer that comes after several context polls (read
// deadlines every 100 ms and more) is read whole, and the connection is
// reused after it.
func TestSlowAnswer(t *testing.T) {
	up, accepted := rawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			time.Sleep(350 * time.Millisecond) // the application at work
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
		}
	})
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	for range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res := readResponse(t, c, "GET")
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != "slow" {
			t.Fatalf("%d %q", res.StatusCode, b)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1", n)
	}
}
