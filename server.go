package drain

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// handler adds the drain's response headers before the user's handler runs.
type handler struct {
	d    *Drainer
	h    http.Handler
	hint []string
}

var closeHeader = []string{"close"}

// connKey is the context key of a request's *trackedConn.
type connKey struct{}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(*trackedConn)
	if r.ProtoMajor != 1 {
		// HTTP/2: no "Connection: close", which net/http's HTTP/2 server
		// turns into an immediate GOAWAY that refuses the streams already
		// on the wire. The drain ends HTTP/2 connections when the
		// listeners close (see h2frame.go).
		if c != nil {
			c.handled.Add(1)
			if c.pingAcked.Load() {
				h.d.poke() // the drain may be waiting for this stream (goAwayDone)
			}
		}
		h.h.ServeHTTP(w, r)
		return
	}
	if h.d.phase.Load() != int32(PhaseServing) {
		// net/http closes the connection after this response.
		w.Header()["Connection"] = closeHeader
		h.h.ServeHTTP(w, r)
		return
	}
	if c == nil {
		h.h.ServeHTTP(w, r)
		return
	}
	// Once per connection: clients keep the hint, and a header on every
	// response would cost four allocations per request.
	if h.hint != nil && !c.hinted.Swap(true) {
		w.Header()["Keep-Alive"] = h.hint
	}
	// The drain may begin while the handler runs: the writer adds
	// "Connection: close" if it has begun by the time the response
	// starts. An HTTP/1 connection serves one request at a time, so one
	// writer per connection, reused, costs no allocation.
	rw := &c.rw
	rw.ResponseWriter, rw.d, rw.started = w, h.d, false
	h.h.ServeHTTP(rw, r)
	rw.ResponseWriter = nil
}

// drainWriter is the http.ResponseWriter HTTP/1 handlers get: net/http's
// own, plus "Connection: close" on a response that starts after the drain
// began. It keeps net/http's optional interfaces (Flusher, Hijacker,
// io.ReaderFrom, io.StringWriter, CloseNotifier) and unwraps for
// http.ResponseController.
type drainWriter struct {
	http.ResponseWriter
	d       *Drainer
	started bool // the response header was written (or the conn hijacked)
}

// start runs before anything that commits the response header.
func (w *drainWriter) start() {
	if w.started {
		return
	}
	w.started = true
	if w.d.phase.Load() != int32(PhaseServing) {
		w.ResponseWriter.Header()["Connection"] = closeHeader
	}
}

func (w *drainWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.start()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *drainWriter) Write(p []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(p)
}

func (w *drainWriter) WriteString(s string) (int, error) {
	w.start()
	return io.WriteString(w.ResponseWriter, s)
}

func (w *drainWriter) ReadFrom(r io.Reader) (int64, error) {
	w.start()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r) // sendfile
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *drainWriter) Flush() {
	w.start()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *drainWriter) FlushError() error {
	w.start()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *drainWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.started = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// CloseNotify keeps handlers and frameworks that still assert
// http.CloseNotifier (older gin versions) working.
func (w *drainWriter) CloseNotify() <-chan bool {
	//lint:ignore SA1019 passed through for callers that still use it
	return w.ResponseWriter.(http.CloseNotifier).CloseNotify()
}

func (w *drainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newServer wires srv to d: it wraps the handler, chains ConnState,
// ConnContext and BaseContext, and resolves the keep-alive timeout.
func newServer(d *Drainer, srv *http.Server, ln net.Listener) *server {
	s := &server{d: d, hs: srv, conns: make(map[*trackedConn]struct{})}
	s.keepAlive = d.opts.KeepAlive
	if s.keepAlive == 0 {
		s.keepAlive = srv.IdleTimeout
	}
	if s.keepAlive == 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.keepAlive > 0 {
		s.hint = []string{"timeout=" + strconv.Itoa(int(max(s.keepAlive/time.Second, 1)))}
	}
	// The library enforces no idle timeout of its own in steady state: a
	// timeout the caller did not set would race every client that ignores
	// the hint (see the package doc). One the caller set, with no
	// ReadTimeout (net/http's only read deadline while idle is then
	// IdleTimeout), is kept lazily (see trackedConn.SetReadDeadline).
	s.idleTimeout = srv.IdleTimeout
	s.lazyIdle = srv.ReadTimeout == 0 && srv.IdleTimeout > 0
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = &handler{d: d, h: h, hint: s.hint}
	userState := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		s.connState(c, st)
		if userState != nil {
			userState(c, st)
		}
	}
	userConnCtx := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if userConnCtx != nil {
			ctx = userConnCtx(ctx, c)
		}
		if tc, _ := unwrap(c); tc != nil {
			ctx = context.WithValue(ctx, connKey{}, tc)
		}
		return ctx
	}
	userBase := srv.BaseContext
	srv.BaseContext = func(l net.Listener) context.Context {
		ctx := context.Background()
		if userBase != nil {
			ctx = userBase(l)
		}
		ctx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.cancels = append(s.cancels, cancel)
		s.mu.Unlock()
		return ctx
	}
	if ln != nil {
		s.ln = &listener{Listener: ln, srv: s}
	}
	return s
}

// server is one http.Server under a Drainer.
type server struct {
	d           *Drainer
	hs          *http.Server
	ln          *listener
	tls         bool
	keepAlive   time.Duration
	hint        []string
	idleTimeout time.Duration // the caller's http.Server.IdleTimeout
	lazyIdle    bool          // idle deadlines are enforced by idleSweep, not the socket

	mu              sync.Mutex
	conns           map[*trackedConn]struct{}
	cancels         []context.CancelFunc
	accepted        uint64
	closed          [numCloseReasons]uint64
	shutdownStarted bool // owned by the drain goroutine
}

func (s *server) listen() error {
	if s.ln == nil {
		addr := s.hs.Addr
		if addr == "" {
			addr = ":http"
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("drain: listen on %s: %w", addr, err)
		}
		s.ln = &listener{Listener: l, srv: s}
	}
	if c := s.hs.TLSConfig; c != nil && (len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil) {
		s.tls = true
	}
	return nil
}

func (s *server) serve() error {
	var l net.Listener = s.ln
	if s.tls {
		cfg := s.hs.TLSConfig.Clone()
		p := s.hs.Protocols
		if p == nil || p.HTTP2() {
			cfg.NextProtos = appendMissing(cfg.NextProtos, "h2")
		}
		cfg.NextProtos = appendMissing(cfg.NextProtos, "http/1.1")
		s.hs.TLSConfig = cfg
		l = tls.NewListener(s.ln, cfg)
	}
	err := s.hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func appendMissing(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func (s *server) track(c *trackedConn) {
	now := time.Now().UnixNano()
	s.d.lastAccept.Store(now)
	c.idleSince.Store(now)
	c.state.Store(int32(http.StateNew))
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.accepted++
	s.mu.Unlock()
}

func (s *server) forget(c *trackedConn) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		reason := closedByPeer
		if c.closing {
			reason = c.reason
		}
		s.closed[reason]++
	}
	s.mu.Unlock()
	if s.d.phase.Load() >= int32(PhaseLameDuck) {
		s.d.poke()
	}
}

// connState is chained in front of the user's http.Server.ConnState. It runs
// on every request's state changes, so it takes no lock on the hot path.
func (s *server) connState(nc net.Conn, st http.ConnState) {
	c, tc := unwrap(nc)
	if c == nil {
		return
	}
	switch st {
	case http.StateIdle:
		c.idleMark.Store(c.bytes.Load())
		c.idleSince.Store(time.Now().UnixNano())
	case http.StateClosed:
		c.state.Store(int32(st))
		s.forget(c)
		return
	}
	if tc != nil && (st == http.StateActive || st == http.StateIdle) && c.protoChecked.CompareAndSwap(false, true) {
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			c.h2.Store(true)
		}
	}
	c.state.Store(int32(st))
	if st == http.StateIdle && s.d.phase.Load() >= int32(PhaseClosing) {
		s.d.poke()
	}
}

// sweep closes the idle HTTP/1 connections the policy says to close, and
// begins the two-step GOAWAY on h2c connections (on goroutines counted by
// goAways). It returns how many connections are still pending and whether
// all of them speak HTTP/2 (or are hijacked) and no h2c connection is
// waiting for its PING's ACK, so that Shutdown's GOAWAY can refuse no stream.
func (s *server) sweep(now, closingAt, deadline time.Time, goAways *sync.WaitGroup) (pending int, onlyH2 bool, next time.Time) {
	var toClose, toGoAway []*trackedConn
	h1 := 0
	h2 := 0
	waiting := 0
	s.mu.Lock()
	for c := range s.conns {
		if c.finWait && c.peerFin {
			continue
		}
		pending++
		if c.h2.Load() {
			h2++
			if !s.tls {
				if !c.goAwayStarted {
					c.goAwayStarted = true
					toGoAway = append(toGoAway, c)
					waiting++
				} else if !c.goAwayDone(now) {
					waiting++
					if at := c.goAwayAt.Load(); at != 0 {
						next = earliest(next, time.Unix(0, at).Add(goAwayWait))
					}
					if at := c.ackedAt.Load(); at != 0 {
						next = earliest(next, time.Unix(0, at).Add(goAwaySettle))
					}
				}
			}
			continue
		}
		st := http.ConnState(c.state.Load())
		if st == http.StateHijacked {
			continue
		}
		h1++
		if c.closing || (st != http.StateIdle && st != http.StateNew) {
			continue
		}
		at := s.d.opts.Idle.closeIdleAt(time.Unix(0, c.idleSince.Load()), closingAt, deadline, s.keepAlive)
		if now.Before(at) {
			next = earliest(next, at)
			continue
		}
		if ok, retry := c.quiet(now); ok {
			c.closing = true
			c.reason = closedIdle
			toClose = append(toClose, c)
		} else {
			next = earliest(next, retry)
		}
	}
	s.mu.Unlock()
	for _, c := range toClose {
		c.Conn.Close()
	}
	for _, c := range toGoAway {
		goAways.Go(c.startGoAway)
	}
	return pending, h2 > 0 && h1 == 0 && waiting == 0, next
}

// earliest returns the earlier of two times, a zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// closeExpired closes the idle connections whose keep-alive idle deadline
// has passed: net/http's IdleTimeout, enforced here, and only on quiet
// connections (net/http would also cut one whose next request has begun).
func (s *server) closeExpired(now int64) {
	var expired []*trackedConn
	s.mu.Lock()
	for c := range s.conns {
		// A connection with 1 to 3 bytes of a next request still waits in
		// net/http's Peek under the idle deadline; give it one more
		// timeout before treating it like net/http would (slowloris).
		dl := c.idleDeadline.Load()
		if dl != 0 && dl <= now && !c.closing && (c.quietNow(now) || dl+int64(s.idleTimeout) <= now) {
			c.closing = true
			c.reason = closedIdleTimeout
			expired = append(expired, c)
		}
	}
	s.mu.Unlock()
	for _, c := range expired {
		c.Conn.Close()
	}
}

func (s *server) cancelHandlers() {
	s.mu.Lock()
	cancels := s.cancels
	s.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}

func (s *server) closeAll(reason int) {
	s.mu.Lock()
	var all []*trackedConn
	for c := range s.conns {
		if c.finWait && c.peerFin {
			continue
		}
		if !c.closing {
			c.closing = true
			c.reason = reason
		}
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
