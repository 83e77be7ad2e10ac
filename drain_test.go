package drain

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	goleak.VerifyTestMain(m,
		// net/http's fixed 500 ms lingering close after "Connection: close"
		// sleeps on a socket the drain already closed; see Run's doc.
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"),
	)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness runs one Drainer over a loopback listener.
type harness struct {
	t    *testing.T
	d    *Drainer
	addr string
	errc chan error
}

func start(t *testing.T, opts Options, h http.Handler) *harness {
	t.Helper()
	return startServer(t, opts, &http.Server{}, h)
}

// startServer is start with the caller's http.Server (its Handler is set).
func startServer(t *testing.T, opts Options, srv *http.Server, h http.Handler) *harness {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLog
	}
	if opts.Signals == nil {
		opts.Signals = []os.Signal{}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(opts)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/readyz", d.Ready())
	srv.Handler = mux
	d.Add(srv, ln)
	hs := &harness{t: t, d: d, addr: ln.Addr().String(), errc: make(chan error, 1)}
	go func() { hs.errc <- d.Run(context.Background()) }()
	t.Cleanup(func() {
		d.Stop()
		d.Stop()
		select {
		case <-hs.errc:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return hs
}

// wait returns Run's error.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.errc:
		h.errc <- err
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return within 30s")
		return nil
	}
}

// waitPhase polls the phase, which changes on the Drainer's own goroutine.
func (h *harness) waitPhase(p Phase) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.d.Phase() < p {
		if time.Now().After(deadline) {
			h.t.Fatalf("phase %v not reached; at %v", p, h.d.Phase())
		}
		time.Sleep(time.Millisecond)
	}
}

// rawConn is a client that never retries: it writes bytes and reads what
// comes back.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// response reads one response; it fails the test on EOF or reset.
func (r *rawConn) response() *http.Response {
	r.t.Helper()
	resp, err := r.tryResponse()
	if err != nil {
		r.t.Fatalf("request lost: %v", err)
	}
	return resp
}

func (r *rawConn) tryResponse() (*http.Response, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// closedByServer reports whether the server closed the connection.
func (r *rawConn) closedByServer() bool {
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.br.ReadByte()
	return err != nil
}

const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "hello")
})

func TestIdleConnectionSendsAfterDrainBegan(t *testing.T) {
	// Server.Shutdown closes idle connections at once; this one sends its
	// next request 300 ms later and must get an answer.
	h := start(t, Options{Delay: 100 * time.Millisecond}, hello)
	c := dialRaw(t, h.addr)
	c.write(get)
	if got := c.response().Header.Get("Keep-Alive"); got != "timeout=5" {
		t.Errorf("Keep-Alive hint = %q, want timeout=5", got)
	}
	h.d.Stop()
	h.waitPhase(PhaseClosing)
	time.Sleep(300 * time.Millisecond) // the client's own pause, not synchronization
	c.write(get)
	resp := c.response()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("got %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if !c.closedByServer() {
		t.Error("connection still open after Connection: close")
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestRequestCompletedAfterShutdownBeganIsServed covers net/http's
// `if c.server.shuttingDown() { return }` after readRequest, and Shutdown
// closing connections that are half-way through their headers.
func TestRequestCompletedAfterShutdownBeganIsServed(t *testing.T) {
	h := start(t, Options{Idle: IdleImmediate}, hello)
	c := dialRaw(t, h.addr)
	c.write(get)
	c.response()
	c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
	waitBytes(t, h.d, 1)
	h.d.Stop()
	h.waitPhase(PhaseClosing)
	time.Sleep(300 * time.Millisecond) // the client is slow, on purpose
	c.write("sent\r\n\r\n")
	resp := c.response()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("got %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if st := h.d.Stats(); st.ClosedIdle != 0 {
		t.Errorf("ClosedIdle = %d, want 0: the half-sent connection was closed", st.ClosedIdle)
	}
}

// waitBytes waits until the server side of some connection has read past its
// idle mark, i.e. net/http has the half-sent bytes.
func waitBytes(t *testing.T, d *Drainer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, s := range d.servers {
			s.mu.Lock()
			for c := range s.conns {
				if c.bytes.Load() > c.idleMark.Load() && http.ConnState(c.state.Load()) == http.StateIdle {
					got++
				}
			}
			s.mu.Unlock()
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never received the half-sent bytes")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSlowPostBodyAcrossDrain(t *testing.T) {
	h := start(t, Options{Idle: IdleImmediate}, hello)
	c := dialRaw(t, h.addr)
	c.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	// Accepted and the headers read: a connection still in the kernel's
	// accept queue when the listener closes is reset by the kernel (no
	// Delay here), which is not what this test is about.
	waitState(t, h.d, http.StateActive)
	h.d.Stop()
	h.waitPhase(PhaseClosing)
	time.Sleep(200 * time.Millisecond)
	c.write("world")
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestLameDuckServesNewConnectionsWithConnectionClose(t *testing.T) {
	h := start(t, Options{Delay: 2 * time.Second, Ready: ReadyUntilDrain}, hello)
	c := dialRaw(t, h.addr)
	c.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 200 {
		t.Fatalf("readiness before drain = %d", resp.StatusCode)
	}
	h.d.Stop()
	h.waitPhase(PhaseLameDuck)
	n := dialRaw(t, h.addr) // a connection kube-proxy still routes here
	n.write(get)
	if resp := n.response(); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("new connection during delay: %d close=%v", resp.StatusCode, resp.Close)
	}
	c.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 503 {
		t.Errorf("readiness while draining = %d, want 503", resp.StatusCode)
	}
	h.waitPhase(PhaseClosing)
	if c, err := net.Dial("tcp", h.addr); err == nil {
		c.Close()
		t.Error("listener still accepting after the delay")
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestReadyThroughDelay: with ReadyThroughDelay, readiness stays 200
// through the lame duck (kube-proxy's serving-terminating fallback keeps
// the pod) and turns 503 when the listeners close.
func TestReadyThroughDelay(t *testing.T) {
	h := start(t, Options{Delay: 2 * time.Second, Ready: ReadyThroughDelay}, hello)
	h.d.Stop()
	h.waitPhase(PhaseLameDuck)
	c := dialRaw(t, h.addr)
	c.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("readiness during the delay = %d, want 200", resp.StatusCode)
	}
	h.waitPhase(PhaseClosing)
	// The listener is closed: a probe served by another server (an admin
	// port) sees the same handler.
	rec := httptest.NewRecorder()
	h.d.Ready().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("readiness once closing = %d, want 503", rec.Code)
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestImmediateClosesIdleConnections(t *testing.T) {
	h := start(t, Options{Idle: IdleImmediate}, hello)
	c := dialRaw(t, h.addr)
	c.write(get)
	c.response()
	h.d.Stop()
	if !c.closedByServer() {
		t.Error("idle connection not closed")
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if st := h.d.Stats(); st.ClosedIdle != 1 {
		t.Errorf("ClosedIdle = %d, want 1", st.ClosedIdle)
	}
}

func TestKeepAliveClosesQuietConnectionAfterTimeout(t *testing.T) {
	h := start(t, Options{KeepAlive: time.Second}, hello)
	c := dialRaw(t, h.addr)
	c.write(get)
	t0 := time.Now()
	c.response()
	h.d.Stop()
	if !c.closedByServer() {
		t.Fatal("quiet connection never closed")
	}
	// Closed no earlier than the keep-alive timeout after its last request.
	if el := time.Since(t0); el < 900*time.Millisecond {
		t.Errorf("closed after %v, before the 1s keep-alive timeout", el)
	}
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestDeadlineCancelsStuckHandler(t *testing.T) {
	cancelled := make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	})
	h := start(t, Options{Deadline: 200 * time.Millisecond, ForceAfter: 5 * time.Second}, stuck)
	c := dialRaw(t, h.addr)
	c.write(get)
	waitState(t, h.d, http.StateActive)
	h.d.Stop()
	<-cancelled
	err := h.wait()
	if !errors.Is(err, ErrDeadline) {
		t.Errorf("Run = %v, want ErrDeadline", err)
	}
	if errors.Is(err, ErrForced) {
		t.Errorf("Run = %v: the handler returned, nothing should be forced", err)
	}
}

func waitState(t *testing.T, d *Drainer, st http.ConnState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := d.Stats()
		if (st == http.StateActive && s.Active > 0) || (st == http.StateIdle && s.Idle > 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection in state %v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSecondStopForces(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release })
	h := start(t, Options{}, stuck)
	c := dialRaw(t, h.addr)
	c.write(get)
	waitState(t, h.d, http.StateActive)
	if !h.d.Stop() {
		t.Error("first Stop reported false")
	}
	h.waitPhase(PhaseClosing)
	if h.d.Stop() {
		t.Error("second Stop reported true")
	}
	if err := h.wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run = %v, want ErrForced", err)
	}
	if !c.closedByServer() {
		t.Error("forced connection still open")
	}
}

func TestCleanupRunsInReverseOrderAfterHTTP(t *testing.T) {
	var mu sync.Mutex
	var order []string
	h := start(t, Options{}, hello)
	for _, n := range []string{"db", "tracer"} {
		h.d.OnShutdown(n, func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if h.d.Phase() != PhaseCleanup {
				t.Errorf("cleanup %s ran in phase %v", n, h.d.Phase())
			}
			order = append(order, n)
			if n == "db" {
				return errors.New("pool busy")
			}
			return nil
		})
	}
	h.d.Stop()
	err := h.wait()
	if err == nil || !strings.Contains(err.Error(), `cleanup "db": pool busy`) {
		t.Errorf("Run = %v, want the db step's error", err)
	}
	if got := strings.Join(order, ","); got != "tracer,db" {
		t.Errorf("order %s, want tracer,db", got)
	}
}

func TestSeveralServersDrainTogether(t *testing.T) {
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}, Delay: 300 * time.Millisecond})
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		mux := http.NewServeMux()
		mux.Handle("/", hello)
		mux.Handle("/readyz", d.Ready())
		d.Add(&http.Server{Handler: mux}, ln)
	}
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	admin := dialRaw(t, addrs[1])
	d.Stop()
	<-d.Draining()
	admin.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := admin.response(); resp.StatusCode != 503 {
		t.Errorf("admin readiness = %d, want 503", resp.StatusCode)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run = %v", err)
	}
	for _, a := range addrs {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepting", a)
		}
	}
}

func TestListenErrorIsClear(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := New(Options{Logger: quietLog})
	d.Add(&http.Server{Addr: ln.Addr().String()}, nil)
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "drain: listen on "+ln.Addr().String()) {
		t.Errorf("Run = %v", err)
	}
	if err := d.Run(context.Background()); !errors.Is(err, ErrRunOnce) {
		t.Errorf("second Run = %v", err)
	}
}

func TestContextCancellationDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
	d.Add(&http.Server{Handler: hello}, ln)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	c := dialRaw(t, ln.Addr().String())
	c.write(get)
	c.response()
	cancel()
	<-d.Draining()
	c.write(get)
	if resp := c.response(); !resp.Close {
		t.Error("no Connection: close while draining")
	}
	if err := <-errc; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestPipelinedRequests records what a pipelining client sees: net/http
// answers the first request that arrived after the drain began with
// "Connection: close" and discards the rest, unprocessed (so the client may
// resend them, RFC 9112 §9.3.2).
func TestPipelinedRequests(t *testing.T) {
	var mu sync.Mutex
	served := 0
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		io.WriteString(w, "hello")
	})
	h := start(t, Options{Delay: time.Second}, count)
	c := dialRaw(t, h.addr)
	c.write(get)
	c.response()
	h.d.Stop()
	h.waitPhase(PhaseLameDuck)
	c.write(get + get + get)
	if resp := c.response(); !resp.Close {
		t.Error("first pipelined response lacks Connection: close")
	}
	if _, err := c.tryResponse(); err == nil {
		t.Error("a second pipelined response arrived after Connection: close")
	}
	h.wait()
	mu.Lock()
	defer mu.Unlock()
	if served != 2 {
		t.Errorf("handler ran %d times, want 2 (unanswered requests must not be processed)", served)
	}
}

func TestH2CStreamFinishesAfterDrainBegan(t *testing.T) {
	testHTTP2(t, false)
}

func TestTLSHTTP2StreamFinishesAfterDrainBegan(t *testing.T) {
	testHTTP2(t, true)
}

func testHTTP2(t *testing.T, useTLS bool) {
	release := make(chan struct{})
	inHandler := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inHandler <- struct{}{}
			<-release
		}
		fmt.Fprintf(w, "proto=%s", r.Proto)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
	srv := &http.Server{Handler: slow}
	tr := &http.Transport{}
	scheme := "http"
	if useTLS {
		ts := httptest.NewUnstartedServer(nil)
		ts.EnableHTTP2 = true
		ts.StartTLS()
		srv.TLSConfig = &tls.Config{Certificates: ts.TLS.Certificates}
		tr.TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tr.ForceAttemptHTTP2 = true
		ts.Close()
		scheme = "https"
	} else {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
		srv.Protocols.SetHTTP1(true)
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	d.Add(srv, ln)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	client := &http.Client{Transport: tr}
	url := scheme + "://" + ln.Addr().String()

	// One idle HTTP/2 connection, and one stream in flight on it.
	if _, err := readAll(client.Get(url + "/")); err != nil {
		t.Fatal(err)
	}
	body := make(chan string, 1)
	go func() {
		b, err := readAll(client.Get(url + "/slow"))
		if err != nil {
			b = "error: " + err.Error()
		}
		body <- b
	}()
	<-inHandler
	d.Stop()
	time.Sleep(100 * time.Millisecond) // the stream is still running after GOAWAY
	close(release)
	if got := <-body; got != "proto=HTTP/2.0" {
		t.Errorf("in-flight stream: %q", got)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end: HTTP/2 connection never told to go away")
	}
}

func readAll(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestHijackedConnectionIsTrackedUntilItCloses: a WebSocket-style handler
// takes over its connection; the drain waits for it, the handler learns of
// the drain from Draining() and closes, and the drain ends then.
func TestHijackedConnectionIsTrackedUntilItCloses(t *testing.T) {
	var d *Drainer
	hijack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		go func() {
			<-d.Draining()
			time.Sleep(200 * time.Millisecond) // the application's goodbye
			c.Write([]byte("bye"))
			c.Close()
		}()
	})
	h := start(t, Options{Idle: IdleImmediate}, hijack)
	d = h.d
	c := dialRaw(t, h.addr)
	c.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitHijacked(t, h.d)
	t0 := time.Now()
	h.d.Stop()
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if el := time.Since(t0); el < 200*time.Millisecond {
		t.Errorf("drain ended after %v, before the hijacked connection closed", el)
	}
	b, _ := io.ReadAll(c.br)
	if string(b) != "bye" {
		t.Errorf("hijacked connection got %q, want the handler's goodbye", b)
	}
}

func waitHijacked(t *testing.T, d *Drainer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Hijacked == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no hijacked connection tracked")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTLSPreconnectIsClosedAfterKeepAlive: a TLS client that completed its
// handshake and never sent a request (a browser's preconnect) holds the
// drain only for the keep-alive timeout, not until the deadline.
func TestTLSPreconnectIsClosedAfterKeepAlive(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	certs := ts.TLS.Certificates
	clientTLS := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	ts.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}, KeepAlive: time.Second, Deadline: 20 * time.Second})
	d.Add(&http.Server{Handler: hello, TLSConfig: &tls.Config{Certificates: certs}}, ln)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	c, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	d.Stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the preconnected TLS connection held the drain")
	}
	if el := time.Since(t0); el < 900*time.Millisecond {
		t.Errorf("closed after %v, before the keep-alive timeout", el)
	}
}

// TestIdleTimeoutWhileServing: the caller's IdleTimeout is enforced in
// steady state (lazily, by the idle sweep), and a connection whose next
// request has begun is not cut at the idle deadline.
func TestIdleTimeoutWhileServing(t *testing.T) {
	h := startServer(t, Options{}, &http.Server{IdleTimeout: 300 * time.Millisecond}, hello)
	quiet := dialRaw(t, h.addr)
	// The server's idle clock for quiet starts after it wrote the answer,
	// so after t0: the close cannot come sooner than 300 ms after t0,
	// however slow the machine (the bound follows from the code).
	t0 := time.Now()
	quiet.write(get)
	quiet.response()
	busy := dialRaw(t, h.addr)
	busy.write(get)
	busy.response()
	busy.write("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") // a next request, begun
	if !quiet.closedByServer() {
		t.Fatal("quiet connection not closed at the idle timeout")
	}
	if el := time.Since(t0); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("quiet connection closed %v after its request was sent, want 300ms or a little more", el)
	}
	busy.write("1\r\n\r\n")
	if resp := busy.response(); resp.StatusCode != 200 {
		t.Errorf("begun request after the idle deadline: %d", resp.StatusCode)
	}
	// The client sees the close before net/http reports the connection
	// closed (StateClosed), which is when Stats counts it.
	deadline := time.Now().Add(10 * time.Second)
	for h.d.Stats().ClosedIdleTimeout != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := h.d.Stats(); st.ClosedIdleTimeout != 1 {
		t.Errorf("ClosedIdleTimeout = %d, want 1", st.ClosedIdleTimeout)
	}
}

// TestReadHeaderTimeoutStillApplies: keeping the idle deadline lazily must
// not swallow the header deadline net/http sets once a request begins.
func TestReadHeaderTimeoutStillApplies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}, KeepAlive: 10 * time.Second})
	d.Add(&http.Server{Handler: hello, ReadHeaderTimeout: 200 * time.Millisecond}, ln)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	defer func() { d.Stop(); <-errc }()
	c := dialRaw(t, ln.Addr().String())
	c.write(get)
	c.response()
	c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") // and then nothing
	t0 := time.Now()
	if !c.closedByServer() {
		t.Fatal("stalled headers never timed out")
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("header timeout took %v, want about 200ms (not the 10s keep-alive)", el)
	}
}

// TestInFlightRequestGetsConnectionClose: a request whose handler is
// running when the drain begins (its response not yet started) is answered
// with "Connection: close", so its connection ends with that response
// instead of waiting for the idle policy.
func TestInFlightRequestGetsConnectionClose(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	h := start(t, Options{Delay: time.Hour}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		io.WriteString(w, "done")
	}))
	c := dialRaw(t, h.addr)
	c.write(get)
	<-inHandler
	h.d.Stop()
	<-h.d.Draining()
	close(release)
	resp := c.response()
	if !resp.Close {
		t.Error("response of a request in flight at drain start has no Connection: close")
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("read after the Connection: close response: %v, want EOF", err)
	}
}

// TestFlushAndHijackThroughTheDrainWriter: the writer the library hands to
// HTTP/1 handlers keeps net/http's optional interfaces.
func TestFlushAndHijackThroughTheDrainWriter(t *testing.T) {
	h := start(t, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhj")
			brw.Flush()
			return
		}
		if _, ok := w.(http.Flusher); !ok {
			t.Error("no http.Flusher")
		}
		if _, ok := w.(http.Hijacker); !ok {
			t.Error("no http.Hijacker")
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("no io.ReaderFrom")
		}
		io.WriteString(w, "a")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		io.WriteString(w, "b")
	}))
	c := dialRaw(t, h.addr)
	c.write(get)
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	c.write("GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("hijacked: status %d", resp.StatusCode)
	}
}
