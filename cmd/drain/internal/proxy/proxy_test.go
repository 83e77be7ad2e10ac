package proxy

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// front serves a Proxy to upstream on a real loopback port, through
// Listener, and returns its address.
func front(t testing.TB, upstream string, cfg Config) (string, *Proxy, *StrictListener) {
	t.Helper()
	var fc *FastConfig
	if testFast {
		fc = &FastConfig{ReadHeaderTimeout: 5 * time.Second}
	}
	addr, p, sl, _ := frontWith(t, upstream, cfg, fc)
	return addr, p, sl
}

// frontWith is front with the fast path configured by fc (nil: none).
func frontWith(t testing.TB, upstream string, cfg Config, fc *FastConfig) (string, *Proxy, *StrictListener, *Fast) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstream = upstream
	if cfg.Log == nil {
		cfg.Log = quietLog
	}
	p := New(cfg)
	sl := Listener(ln, quietLog)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(quietLog.Handler(), slog.LevelError)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan struct{})
	if fc == nil {
		go func() { defer close(done); _ = srv.Serve(sl) }()
		t.Cleanup(func() {
			srv.Close()
			<-done
			p.CloseIdleConnections()
		})
		return ln.Addr().String(), p, sl, nil
	}
	f := p.NewFast(sl, *fc)
	fastDone := make(chan struct{})
	go func() { defer close(fastDone); _ = f.Serve(nil, nil) }()
	go func() { defer close(done); _ = srv.Serve(f.Listener()) }()
	t.Cleanup(func() {
		f.Close()
		<-fastDone
		srv.Close()
		<-done
		p.CloseIdleConnections()
	})
	return ln.Addr().String(), p, sl, f
}

// testFast: front serves through the fast path (Fast) with net/http
// behind it, as drain exec does; TestMain runs every test both ways.
var testFast bool

func upstream(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func TestGetPostHeaders(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Custom", r.Header.Get("X-Custom"))
		w.Header().Set("X-Got-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Got-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Got-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("X-Got-CL", fmt.Sprint(r.ContentLength))
		w.WriteHeader(201)
		w.Write(body)
	}))
	addr, _, _ := front(t, up, Config{})
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		body := io.Reader(nil)
		if m != "GET" && m != "OPTIONS" && m != "DELETE" {
			body = strings.NewReader("payload-" + m)
		}
		req, _ := http.NewRequest(m, "http://"+addr+"/p?q=1", body)
		req.Host = "example.test"
		req.Header.Set("X-Custom", "v1")
		req.Header.Set("X-Forwarded-For", "6.6.6.6") // spoofed: not trusted
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(m, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := ""
		if body != nil {
			want = "payload-" + m
		}
		h := res.Header
		if res.StatusCode != 201 || string(got) != want || h.Get("X-Method") != m || h.Get("X-Host") != "example.test" || h.Get("X-Custom") != "v1" {
			t.Errorf("%s: status %d body %q headers %v", m, res.StatusCode, got, h)
		}
		if h.Get("X-Got-XFF") != "127.0.0.1" || h.Get("X-Got-Proto") != "http" {
			t.Errorf("%s: X-Forwarded-For %q proto %q, want 127.0.0.1 and http", m, h.Get("X-Got-XFF"), h.Get("X-Got-Proto"))
		}
		if body == nil && (h.Get("X-Got-TE") != "" || h.Get("X-Got-CL") != "0") {
			t.Errorf("%s without body arrived with TE %q CL %s", m, h.Get("X-Got-TE"), h.Get("X-Got-CL"))
		}
	}
}

func TestTrustForwarded(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}))
	addr, _, _ := front(t, up, Config{TrustForwarded: true})
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "203.0.113.7, 127.0.0.1|https" {
		t.Errorf("got %q", b)
	}
}

// TestHopByHop: RFC 9110 §7.6.1 fields, and those named in Connection, are
// not forwarded in either direction.
func TestHopByHop(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade", "X-Secret", "Trailer"} {
			if _, ok := r.Header[h]; ok {
				seen = append(seen, h)
			}
		}
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "leak")
		w.Header().Set("Proxy-Connection", "keep-alive")
		fmt.Fprint(w, strings.Join(seen, ","))
	}))
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nUpgrade: foo/1\r\n\r\n")
	res := readResponse(t, c, "GET")
	b, _ := io.ReadAll(res.Body)
	if string(b) != "" {
		t.Errorf("upstream saw hop-by-hop fields: %s", b)
	}
	if res.Header.Get("X-Internal") != "" || res.Header.Get("Proxy-Connection") != "" {
		t.Errorf("response leaked hop-by-hop fields: %v", res.Header)
	}
}

func dial(t *testing.T, addr string) *bufConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &bufConn{Conn: c, r: bufio.NewReader(c)}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func readResponse(t *testing.T, c *bufConn, method string) *http.Response {
	t.Helper()
	res, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestStreaming: neither body is buffered. The upstream answers the first
// half of the request body before the client sent the second half, and the
// client reads the first part of the response before the upstream writes
// the rest.
func TestStreaming(t *testing.T) {
	gotFirst := make(chan struct{})
	sendRest := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first" {
			t.Errorf("upstream read %q %v", buf, err)
			return
		}
		close(gotFirst)
		w.Write([]byte("part1;"))
		w.(http.Flusher).Flush()
		<-sendRest
		rest, _ := io.ReadAll(r.Body)
		w.Write([]byte("part2:" + string(rest)))
	}))
	addr, _, _ := front(t, up, Config{})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/", pr)
	resCh := make(chan *http.Response, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(resCh)
			return
		}
		resCh <- res
	}()
	pw.Write([]byte("first"))
	<-gotFirst
	res := <-resCh
	if res == nil {
		return
	}
	defer res.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "part1;" {
		t.Fatalf("first part %q %v", buf, err)
	}
	close(sendRest)
	pw.Write([]byte("second"))
	pw.Close()
	rest, _ := io.ReadAll(res.Body)
	if string(rest) != "part2:second" {
		t.Errorf("rest %q", rest)
	}
}

func TestTrailers(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("X-Req-Trailer", "")
		w.Write([]byte("body"))
		w.Header().Set("X-Sum", "sum-of-"+r.Trailer.Get("X-Checksum"))
	}))
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\nX-Checksum: abc\r\n\r\n")
	res := readResponse(t, c, "POST")
	b, _ := io.ReadAll(res.Body)
	if string(b) != "body" || res.Trailer.Get("X-Sum") != "sum-of-abc" {
		t.Errorf("body %q trailer %v", b, res.Trailer)
	}
}

// TestExpectContinue: the client's 100-continue reaches the application,
// which decides; a refusal reaches the client without it sending the body.
func TestExpectContinue(t *testing.T) {
	var bodies atomic.Int32
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") != "100-continue" {
			t.Errorf("Expect not forwarded: %v", r.Header)
		}
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusExpectationFailed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies.Add(1)
		w.Write(b)
	}))
	addr, _, _ := front(t, up, Config{})

	c := dial(t, addr)
	fmt.Fprint(c, "POST /accept HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue before the body, got %q %v", line, err)
	}
	for line != "\r\n" {
		line, _ = c.r.ReadString('\n')
	}
	fmt.Fprint(c, "hello")
	res := readResponse(t, c, "POST")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("accept: %d %q", res.StatusCode, b)
	}

	c2 := dial(t, addr)
	fmt.Fprint(c2, "POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	res = readResponse(t, c2, "POST")
	if res.StatusCode != http.StatusExpectationFailed {
		t.Errorf("refuse: status %d", res.StatusCode)
	}
	if bodies.Load() != 1 {
		t.Errorf("upstream read %d bodies", bodies.Load())
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		fmt.Fprint(brw, "echo:"+line)
		brw.Flush()
	}))
	addr, _, _ := front(t, up, Config{})
	c := dial(t, addr)
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	res := readResponse(t, c, "GET")
	if res.StatusCode != 101 || res.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
	}
	fmt.Fprint(c, "ping\n")
	line, err := c.r.ReadString('\n')
	if err != nil || line != "echo:ping\n" {
		t.Errorf("tunnel: %q %v", line, err)
	}
}

func TestH2C(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s upstream-proto=%s", r.Header.Get("X-Forwarded-Proto"), r.Proto)
	}))
	addr, _, _ := front(t, up, Config{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 2 || string(b) != "http upstream-proto=HTTP/1.1" {
		t.Errorf("proto %s body %q", res.Proto, b)
	}
}

// TestUpstreamDown: a refused connection is a 503 with a plain-text reason.
func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	addr, _, _ := front(t, dead, Config{})
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(b), "refused") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("%d %q %v", res.StatusCode, b, res.Header)
	}
}

// TestNoRetryAfterWrite: a request the application read and then dropped
// (closing the connection without answering) is never sent again, whether
// GET or POST; the client gets a 502.
func TestNoRetryAfterWrite(t *testing.T) {
	var seen atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					seen.Add(1)
					if req.URL.Path == "/drop" {
						return // read it in full, answer nothing
					}
					fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	addr, p, _ := front(t, ln.Addr().String(), Config{})
	client := &http.Client{Transport: &http.Transport{}}
	for _, m := range []string{"GET", "POST"} {
		seen.Store(0)
		// Warm a pooled connection, then drop on it.
		if res, err := client.Get("http://" + addr + "/warm"); err != nil {
			t.Fatal(err)
		} else {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		var body io.Reader
		if m == "POST" {
			body = strings.NewReader("x=1")
		}
		req, _ := http.NewRequest(m, "http://"+addr+"/drop", body)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 502 || !strings.Contains(string(b), "without answering") {
			t.Errorf("%s: %d %q", m, res.StatusCode, b)
		}
		if n := seen.Load(); n != 2 {
			t.Errorf("%s: upstream saw %d requests, want 2 (warm + drop, no retry)", m, n)
		}
	}
	if p.Retried() != 0 {
		t.Errorf("retried %d", p.Retried())
	}
}

// TestRetryUnwrittenOnce: the application closes a pooled connection at the
// moment the proxy picks it (a keep-alive timeout race, made deterministic
// by closing it from the hook that runs just before the first write). The
// request, GET or POST, was never written, so it is sent once on a new
// connection: it succeeds and the application sees it exactly once.
func TestRetryUnwrittenOnce(t *testing.T) {
	var seen atomic.Int32
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	idle := map[string]net.Conn{} // upstream side, by the proxy's local address
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen.Add(1)
		w.Write(b)
	}))
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StateIdle {
			idle[c.RemoteAddr().String()] = c
			cond.Broadcast()
		}
	}
	srv.Start()
	defer srv.Close()
	testHookFirstWrite = func(c net.Conn) {
		mu.Lock()
		// The response may reach the proxy before the upstream marks the
		// connection idle.
		for idle[c.LocalAddr().String()] == nil {
			cond.Wait()
		}
		up := idle[c.LocalAddr().String()]
		mu.Unlock()
		up.Close()
		for !peerClosed(c) { // the FIN is on its way over loopback
			time.Sleep(time.Millisecond)
		}
	}
	defer func() { testHookFirstWrite = nil }()
	addr, p, _ := front(t, srv.Listener.Addr().String(), Config{})
	p.pool.peekAfter = 0 // check every reuse, however recent
	client := &http.Client{Transport: &http.Transport{}}
	for i, m := range []string{"GET", "GET", "POST", "POST"} {
		seen.Store(0)
		var body io.Reader
		if m == "POST" {
			body = strings.NewReader("payload")
		}
		req, _ := http.NewRequest(m, "http://"+addr+"/", body)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || seen.Load() != 1 {
			t.Errorf("request %d (%s): %d %q, upstream saw it %d times", i, m, res.StatusCode, b, seen.Load())
		}
	}
	// The first request used a fresh connection; each later one picked
	// the pooled connection, found it closed, and retried.
	if p.Retried() != 3 {
		t.Errorf("retried %d, want 3", p.Retried())
	}
}

func TestUpConnRefusesWriteAfterPeerClose(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	srvSide, _ := ln.Accept()
	c := &upConn{Conn: raw}
	c.check.Store(true)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("open connection refused: %v", err)
	}
	srvSide.Close()
	// Wait for the FIN: a blocking read sees EOF... after the byte it
	// sent? The server sent nothing, so the first read returns EOF.
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from a closed peer")
	}
	c.check.Store(true)
	n, err := c.Write([]byte("GET / HTTP/1.1\r\n"))
	if n != 0 || err != errUpstreamClosed {
		t.Errorf("write to a closed peer: %d %v", n, err)
	}
}
