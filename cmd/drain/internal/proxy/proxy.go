// Package proxy is the reverse proxy behind `drain exec`: it forwards
// requests from the public side (HTTP/1.1, or h2c when the server enables
// it) to one application on a loopback port, over pooled keep-alive
// HTTP/1.1 connections, streaming bodies both ways.
//
// Plain HTTP/1.1 requests are served by the fast path ([Fast], fast.go),
// which reads public connections itself and hands every other kind of
// request, and every connection when the drain begins, to net/http.
// Requests through net/http take the forwarder (forward.go): the handler's goroutine writes
// the request head, and a body of known length up to 16 KiB, in one write
// on a pooled connection and parses the response itself. Protocol upgrades
// (WebSocket) go through httputil.ReverseProxy with a Transport that never
// retries on its own, which tunnels the connection after a 101.
// On both paths a request is retried exactly once, on a new connection,
// only when the application had closed the pooled connection before a
// single byte of the request was written to it ([Proxy.Retried] counts
// them); a request the application did not answer gets an error response
// that says in plain text why (503 when it refused the connection or has
// exited, 502 otherwise), never a hang; and [Listener] rejects ambiguous
// HTTP/1.1 framing (request smuggling) before net/http parses it.
//
// The application is trusted: its responses are parsed and re-framed,
// never copied byte for byte, except after a 101 Switching Protocols
// (WebSocket), when both directions are tunnelled.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for the upstream connection pool.
const (
	// DefaultIdleConnTimeout closes a pooled upstream connection unused for
	// this long: shorter than the keep-alive timeout of common servers
	// (gunicorn 2 s, Node.js 5 s), so the proxy rarely picks a connection
	// the application is closing at the same moment.
	DefaultIdleConnTimeout = time.Second
	// DefaultExpectContinueTimeout is how long a request with "Expect:
	// 100-continue" waits for the application's 100 before its body is sent
	// anyway (curl's value).
	DefaultExpectContinueTimeout = time.Second
	// DefaultDialTimeout bounds connecting to the application.
	DefaultDialTimeout = 5 * time.Second
)

// Config configures a [Proxy].
type Config struct {
	// Upstream is the application's address, host:port (normally
	// 127.0.0.1:port). Required.
	Upstream string

	// TrustForwarded keeps the client's X-Forwarded-For (appending the
	// peer's address), X-Forwarded-Proto, X-Forwarded-Host and Forwarded
	// headers: set it only behind a load balancer that sets them. When
	// false (the default) they are replaced: X-Forwarded-For is the peer's
	// address, X-Forwarded-Proto "http", X-Forwarded-Host the Host header.
	TrustForwarded bool

	// Down, if set, reports why the application cannot answer (for example
	// "exited with status 1"), or "" while it runs. It makes error
	// responses say so.
	Down func() string

	// Log receives one record per failed request and per retry. Nil means
	// slog.Default().
	Log *slog.Logger
}

// Proxy is an http.Handler forwarding every request to Config.Upstream.
// Create one with [New]. It is safe for concurrent use.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	tr      *http.Transport
	rp      *httputil.ReverseProxy
	pool    *pool
	retried atomic.Uint64
	failed  atomic.Uint64
	active  atomic.Int64 // requests being served

	away     chan struct{} // closed by GoingAway
	awayOnce sync.Once
}

// New returns a Proxy for cfg.
func New(cfg Config) *Proxy {
	p := &Proxy{cfg: cfg, log: cfg.Log, pool: newPool(cfg.Upstream), away: make(chan struct{})}
	if p.log == nil {
		p.log = slog.Default()
	}
	dialer := &net.Dialer{Timeout: DefaultDialTimeout}
	p.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, notSent{err}
			}
			return &upConn{Conn: c}, nil
		},
		MaxIdleConns:          0, // no limit
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       DefaultIdleConnTimeout,
		ExpectContinueTimeout: DefaultExpectContinueTimeout,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: &retrier{p: p},
		// 0: ReverseProxy still flushes every write of a response of
		// unknown length or of type text/event-stream (streaming), and
		// net/http's 4 KiB buffer keeps large bodies flowing; flushing
		// every write of a sized response cost a write syscall each
		// (4x HAProxy's CPU per request, bench/exec-proxy).
		FlushInterval:  0,
		ErrorHandler:   p.errorResponse,
		ModifyResponse: closeAfterRefusedUpgrade,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p
}

// ServeHTTP forwards r to the application.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)
	if r.Method == http.MethodConnect {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, "drain exec: CONNECT is not supported\n")
		return
	}
	// Stream both ways at once: without this, net/http's HTTP/1 server
	// would read the rest of the request body before sending the first
	// byte of a response the application started early.
	if r.ContentLength != 0 {
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	upgrade := isUpgrade(r.Header)
	if !upgrade {
		p.forward(w, r)
		return
	}
	if upgrade {
		// The drain's "Connection: close" and keep-alive hint make no
		// sense on a 101; the upstream's Connection: Upgrade replaces them.
		delete(w.Header(), "Connection")
		delete(w.Header(), "Keep-Alive")
	}
	if isWebSocket(r.Header) {
		w = wsWriter{ResponseWriter: w, p: p}
	}
	p.rp.ServeHTTP(w, r)
}

// CloseIdleConnections closes the pooled upstream connections not in use,
// so the application sees none when it is asked to stop.
func (p *Proxy) CloseIdleConnections() {
	p.pool.closeIdle()
	p.tr.CloseIdleConnections()
}

// Retried reports how many requests were retried on a fresh connection
// because the application had closed the pooled one before it was used.
func (p *Proxy) Retried() uint64 { return p.retried.Load() }

// Active reports how many requests are being served (on either path),
// upgraded connections included.
func (p *Proxy) Active() int64 { return p.active.Load() }

// Failed reports how many requests got an error response (502 or 503)
// from the proxy itself.
func (p *Proxy) Failed() uint64 { return p.failed.Load() }

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = p.cfg.Upstream
	pr.Out.Host = pr.In.Host // the application sees the Host the client asked for
	// Share the trailer map: net/http's server fills in the client's
	// trailer values when the body ends, which is when the Transport sends
	// them on (Clone copied the map before they were known).
	pr.Out.Trailer = pr.In.Trailer
	if p.cfg.TrustForwarded {
		in := pr.In.Header
		pr.Out.Header["X-Forwarded-For"] = in["X-Forwarded-For"]
		pr.SetXForwarded()
		for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
			if v, ok := in[h]; ok {
				pr.Out.Header[h] = v
			}
		}
	} else {
		pr.SetXForwarded()
	}
}

// isUpgrade reports whether h asks for a protocol switch (RFC 9110 §7.8).
func isUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && headerHasToken(h["Connection"], "upgrade")
}

// closeAfterRefusedUpgrade ends the client connection after an upgrade the
// application declined: [Listener] stops checking the framing of a
// connection once it asked to switch protocols, so no further request may
// follow on it.
func closeAfterRefusedUpgrade(res *http.Response) error {
	if res.StatusCode != http.StatusSwitchingProtocols && isUpgrade(res.Request.Header) {
		res.Header.Set("Connection", "close")
	}
	return nil
}

// Probe sends the application "GET path" over the pool, as any request,
// and reports whether it answered (any status) before ctx ended: nil, or
// why not. A probe does not count in [Proxy.Failed]. drain exec uses it to
// tell an application that is alive but no longer answers (stopped, or
// every worker stuck) from one that is working.
func (p *Proxy) Probe(ctx context.Context, path string) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	r.Host = "localhost"
	r.RemoteAddr = "127.0.0.1:0"
	r.Header.Set("User-Agent", "drain-exec-probe")
	w := &probeWriter{}
	func() {
		defer func() {
			// A body cut after its head: the application did answer.
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}()
		p.forward(w, r)
	}()
	if w.err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
		return w.err
	}
	return nil
}

// probeWriter takes a probe's answer: only whether one came matters.
type probeWriter struct {
	h   http.Header
	err error // set by errorResponse: the application did not answer
}

func (w *probeWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *probeWriter) WriteHeader(int)             {}
func (w *probeWriter) Flush()                      {}

// errorResponse answers a request the application did not answer.
func (p *Proxy) errorResponse(w http.ResponseWriter, r *http.Request, err error) {
	if pw, ok := w.(*probeWriter); ok {
		pw.err = err
		return
	}
	p.failed.Add(1)
	if r.Context().Err() != nil {
		// The client went away (or the drain cancelled the request): nobody
		// reads this answer.
		p.log.Debug("drain exec: request cancelled", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	code, msg := p.upstreamError(err)
	p.log.Warn("drain exec: upstream error", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Keep-Alive")
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
		h.Set("Connection", "close")
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "%d %s: drain exec: %s\n", code, http.StatusText(code), msg)
}

// notSent marks an error that happened before any byte of the request
// went to the application (connecting to it failed): the application
// cannot have seen the request, which may then be sent again.
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// upstreamError returns the status and the plain-text reason for a
// request the application did not answer because of err. The status says
// what the application may have seen: 503 (retry it, even when it is not
// idempotent) only for a request it cannot have received, because
// connecting to it failed; 502 (retry only what is safe to repeat) for one
// that was sent, in part or in full, even when the application then died.
func (p *Proxy) upstreamError(err error) (code int, msg string) {
	down := ""
	if p.cfg.Down != nil {
		down = p.cfg.Down()
	}
	var be clientBodyError
	var ns notSent
	switch {
	case errors.As(err, &be):
		return http.StatusBadRequest, "reading the request body: " + be.err.Error()
	case errors.As(err, &ns):
		switch {
		case down != "":
			msg = "the application " + down
		case errors.Is(err, syscall.ECONNREFUSED):
			msg = "the application refused the connection (is it listening on " + p.cfg.Upstream + "?)"
		case errors.Is(err, context.DeadlineExceeded):
			msg = "timed out connecting to the application"
		default:
			msg = "cannot connect to the application: " + err.Error()
		}
		return http.StatusServiceUnavailable, msg + "; the request was not sent to it"
	}
	code, msg = http.StatusBadGateway, "the application closed the connection without answering"
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		msg = "the application reset the connection without answering"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "the application closed the connection before its response head was complete"
	case errors.Is(err, io.EOF), errors.Is(err, errUpstreamClosed):
	default:
		msg = "the application did not answer: " + err.Error()
	}
	if down != "" {
		msg += " (the application " + down + ")"
	}
	return code, msg + "; it may have received the request"
}

// errUpstreamClosed is returned by an upstream connection's first write of
// a request when the application has already closed it.
var errUpstreamClosed = errors.New("proxy: application closed the pooled connection")

// upConn is one upstream connection. It counts the bytes written, and
// refuses the first write of a request if the application has already
// closed the connection, so that the request is known to be unwritten and
// can be retried.
type upConn struct {
	net.Conn
	written atomic.Int64
	check   atomic.Bool // the next Write starts a request on a reused connection
}

// testHookFirstWrite, if set, runs before the first write of a request on
// a reused connection.
var testHookFirstWrite func(net.Conn)

func (c *upConn) Write(p []byte) (int, error) {
	if c.check.Swap(false) && c.closedBeforeWrite() {
		return 0, errUpstreamClosed
	}
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c *upConn) closedBeforeWrite() bool {
	if testHookFirstWrite != nil {
		testHookFirstWrite(c.Conn)
	}
	return peerClosed(c.Conn)
}

// retrier is the proxy's RoundTripper. The Transport itself never retries
// (see noRetry); retrier retries once, on a new connection, a request whose
// pooled connection failed before any byte of it was written and whose body
// was not read.
type retrier struct{ p *Proxy }

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *onceBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &onceBody{rc: req.Body}
	}
	for attempt := 1; ; attempt++ {
		var (
			mu     sync.Mutex
			conn   *upConn
			reused bool
			start  int64
		)
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			reused = info.Reused
			if c, ok := info.Conn.(*upConn); ok {
				conn = c
				start = c.written.Load()
				if info.Reused {
					c.check.Store(true)
				}
			}
		}}
		out := req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		if body != nil {
			out.Body = body
		} else {
			out.Body = noRetry(out.Method)
		}
		res, err := t.p.tr.RoundTrip(out)
		if err == nil {
			return res, nil
		}
		if body != nil {
			if berr := body.err.Load(); berr != nil {
				return nil, clientBodyError{*berr}
			}
		}
		mu.Lock()
		unwritten := conn != nil && reused && conn.written.Load() == start
		mu.Unlock()
		if attempt > 1 || !unwritten || (body != nil && body.read.Load()) || req.Context().Err() != nil {
			return nil, err
		}
		t.p.retried.Add(1)
		t.p.log.Info("drain exec: retrying on a new connection", "method", req.Method, "path", req.URL.Path, "err", err)
	}
}

// noRetry returns the body to send with a request that has none. For the
// methods net/http's Transport would replay on its own after writing them
// (GET, HEAD, OPTIONS) it is a non-nil empty body, which the Transport
// probes, finds empty and sends without framing headers, exactly like no
// body, but which makes it treat the request as not replayable: only the
// retrier decides about retries.
func noRetry(method string) io.ReadCloser {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return emptyBody{}
	}
	return nil
}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// onceBody is the client's request body as sent upstream: it remembers
// whether any of it was read, and its Close is left to net/http's server
// (which owns the client's body), so a failed attempt does not spoil it.
type onceBody struct {
	rc   io.ReadCloser
	read atomic.Bool
	err  atomic.Pointer[error] // the client's body failed (malformed, cut)
}

func (b *onceBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 || err != nil {
		b.read.Store(true)
	}
	if err != nil && err != io.EOF {
		b.err.Store(&err)
	}
	return n, err
}

// clientBodyError: the request failed because the client's body did.
type clientBodyError struct{ err error }

func (e clientBodyError) Error() string { return "client request body: " + e.err.Error() }
func (e clientBodyError) Unwrap() error { return e.err }

func (b *onceBody) Close() error { return nil }
