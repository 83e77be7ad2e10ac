package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fast path serves the common request, a plain HTTP/1.1 request with no
// body or a small one of known length, without net/http: net/http's server
// alone costs more CPU per request than HAProxy's whole proxying
// (bench/exec-syscalls: 12 us against 16 us on this machine), so a proxy
// built on it cannot come near HAProxy or nginx. Everything else (HTTP/2,
// upgrades, Expect, chunked or large uploads, the readiness path, HTTP/1.0,
// anything it does not parse, a head over fastHeadMax) is handed, with the
// bytes already read, to net/http, which serves that connection from then
// on: net/http stays the judge of what is malformed, so the fast path only
// ever serves requests net/http would also accept.
//
// The drain stays the drain library's. When it begins, every fast
// connection between requests, or part-way through a head, is handed to
// net/http (the quiet ones a batch at a time: stage.go), where the
// Drainer's idle policy and half-sent request protection apply as to any
// connection of its own; a connection busy with
// a request answers it with "Connection: close" (or, if the response head
// had already gone out, is handed over after it). [Drainer.Hold] keeps the
// drain open until no fast connection is left; its context (cancelled at
// the drain's deadline) cancels the requests still running.

// fastHeadMax: a request head that does not fit is handed to net/http.
const fastHeadMax = 8 << 10

// fastMaxFields: a request with more header fields is handed to net/http.
const fastMaxFields = 64

// FastConfig configures [Proxy.NewFast].
type FastConfig struct {
	// ReadyPath, if set, is a path the fast path never serves: requests for
	// it go to net/http (where the readiness handler is).
	ReadyPath string
	// KeepAlive is advertised ("Keep-Alive: timeout=N") on a connection's
	// first response, as the drain library does. Zero means 5 s; negative,
	// no hint. It is not enforced: see IdleTimeout.
	KeepAlive time.Duration
	// IdleTimeout closes a connection idle that long between requests.
	// Zero means never, like net/http's Server and the drain library by
	// default: a client that ignores the hint (Go's Transport, routers with
	// 60-600 s upstream pools) must never race a close that the server it
	// replaced would not make. During the drain the library's idle policy
	// closes idle connections whatever this says.
	IdleTimeout time.Duration
	// ReadHeaderTimeout closes a connection whose request head is not
	// complete this long after its first byte (slowloris). Zero: 10 s.
	ReadHeaderTimeout time.Duration
}

// Fast is the fast path in front of a [Proxy]. Create one with
// [Proxy.NewFast], give [Fast.Listener] to net/http (through the drain
// library), and run [Fast.Serve].
type Fast struct {
	p       *Proxy
	ln      net.Listener
	cfg     FastConfig
	hint    []byte // "Keep-Alive: timeout=N\r\n", or nil
	hand    *handoff
	log     *slog.Logger
	ctx     context.Context // requests' context: the drain's hold
	drainCh <-chan struct{}
	fast    atomic.Uint64
	slow    atomic.Uint64
	debug   bool

	mu       sync.Mutex
	conns    map[*fastConn]struct{}
	draining bool
	accepted bool // the accept loop ended
	empty    chan struct{}
	forgot   chan struct{} // a connection left the fast path (stage.go)
}

// NewFast returns a fast path that accepts connections from ln (normally
// the [Listener] of the public socket, so that ambiguous framing is
// rejected before any parser sees it).
func (p *Proxy) NewFast(ln net.Listener, cfg FastConfig) *Fast {
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 5 * time.Second
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	f := &Fast{p: p, ln: ln, cfg: cfg, log: p.log, conns: map[*fastConn]struct{}{}, forgot: make(chan struct{}, 1)}
	if cfg.KeepAlive > 0 {
		f.hint = []byte("Keep-Alive: timeout=" + strconv.Itoa(int(max(cfg.KeepAlive/time.Second, 1))) + "\r\n")
	}
	f.hand = &handoff{ln: ln, ch: make(chan handed), done: make(chan struct{})}
	f.debug = f.log.Enabled(context.Background(), slog.LevelDebug)
	return f
}

// Listener returns the listener net/http serves: it yields the connections
// the fast path hands over. Closing it closes the public listener; Accept
// keeps yielding handed-over connections until [Fast.Serve] has returned.
func (f *Fast) Listener() net.Listener { return f.hand }

// Counts reports how many requests the fast path served and how many
// connections it handed to net/http.
func (f *Fast) Counts() (served, handed uint64) { return f.fast.Load(), f.slow.Load() }

// Serve accepts and serves connections until the public listener is closed
// and no fast connection is left. draining is the drain's start (the
// Drainer's Draining channel); hold is the Drainer's Hold (nil: none).
func (f *Fast) Serve(draining <-chan struct{}, hold func() (context.Context, func())) error {
	release := func() {}
	f.ctx = context.Background()
	f.drainCh = draining
	if hold != nil {
		f.ctx, release = hold()
	}
	defer release()
	defer close(f.hand.done)
	f.empty = make(chan struct{})
	stop := make(chan struct{})
	var jobs sync.WaitGroup
	jobs.Go(func() { f.watch(draining, stop) })
	var err error
	var backoff time.Duration
	for {
		var c net.Conn
		c, err = f.ln.Accept()
		if err != nil {
			if !temporary(err) {
				break
			}
			// Out of descriptors or memory: wait as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.log.Warn("drain exec: accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		f.mu.Lock()
		if f.draining || f.isDraining() {
			f.mu.Unlock()
			// A new connection: net/http's own deadlines, from now.
			f.handOver(c, nil, false)
			continue
		}
		fc := &fastConn{f: f, c: c}
		f.conns[fc] = struct{}{}
		f.mu.Unlock()
		go fc.serve()
	}
	f.mu.Lock()
	f.accepted = true
	last := len(f.conns) == 0
	f.mu.Unlock()
	if !last {
		<-f.empty
	}
	close(stop)
	jobs.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// temporary reports whether an Accept error may go away by itself.
func temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// watch interrupts connections: all those between requests when the drain
// begins, idle ones past IdleTimeout and heads past ReadHeaderTimeout; and it
// bounds every connection once the drain's deadline cancels the hold.
func (f *Fast) watch(draining <-chan struct{}, stop <-chan struct{}) {
	shortest := f.cfg.ReadHeaderTimeout
	if f.cfg.IdleTimeout > 0 {
		shortest = min(shortest, f.cfg.IdleTimeout)
	}
	period := min(time.Second, max(shortest/4, 100*time.Millisecond))
	t := time.NewTicker(period)
	defer t.Stop()
	ctxDone := f.ctx.Done()
	var staging sync.WaitGroup
	defer staging.Wait()
	for {
		select {
		case <-stop:
			return
		case <-draining:
			draining = nil
			f.mu.Lock()
			f.draining = true
			var quiet []*fastConn
			for c := range f.conns {
				if c.state.Load() == stateIdle {
					quiet = append(quiet, c) // handed over in batches: stage.go
					continue
				}
				c.interrupt(whyDrain)
			}
			f.mu.Unlock()
			if len(quiet) > 0 {
				staging.Go(func() { f.stage(quiet, stop) })
			}
		case <-ctxDone:
			ctxDone = nil
			// The deadline: whatever still waits on a client ends within
			// pollMax (upstream reads see the context themselves).
			f.mu.Lock()
			for c := range f.conns {
				c.bound(time.Now().Add(pollMax))
			}
			f.mu.Unlock()
		case now := <-t.C:
			f.mu.Lock()
			for c := range f.conns {
				// A connection's state changes are counted rather than
				// timed (time.Now on every change cost 2% of the CPU):
				// one whose count stood still since seenAt has been in
				// its state at least that long.
				if g := c.gen.Load(); g != c.seenGen || c.seenAt.IsZero() {
					c.seenGen, c.seenAt = g, now
					continue
				}
				in := now.Sub(c.seenAt)
				switch c.state.Load() {
				case stateIdle:
					if f.cfg.IdleTimeout > 0 && in >= f.cfg.IdleTimeout {
						c.interrupt(whyIdle)
					}
				case stateHead:
					if in >= f.cfg.ReadHeaderTimeout {
						c.interrupt(whyHead)
					}
				}
			}
			f.mu.Unlock()
		}
	}
}

// Close closes the public listener and every connection the fast path
// still serves (not those handed over): for a stop without a drain.
func (f *Fast) Close() error {
	err := f.hand.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.c.Close()
	}
	f.mu.Unlock()
	return err
}

// forget removes c; the last one after the accept loop ended lets Serve
// return.
func (f *Fast) forget(c *fastConn) {
	f.mu.Lock()
	delete(f.conns, c)
	if f.accepted && len(f.conns) == 0 {
		close(f.empty)
	}
	f.mu.Unlock()
	select {
	case f.forgot <- struct{}{}:
	default:
	}
}

// handOver gives c, with buffered (the bytes already read from it), to
// net/http; if net/http no longer accepts connections it is closed. kept
// says the fast path has been holding c open (after a response, or since
// it accepted it): with nothing buffered, its read-header timeout then
// starts at a request's first byte, as on the fast path (see handedConn).
func (f *Fast) handOver(c net.Conn, buffered []byte, kept bool) {
	f.slow.Add(1)
	_ = c.SetDeadline(time.Time{})
	var nc net.Conn = c
	switch {
	case len(buffered) > 0:
		nc = &handedConn{Conn: c, prefix: bytes.Clone(buffered)}
	case kept:
		hc := &handedConn{Conn: c}
		hc.waiting.Store(true)
		nc = hc
	}
	if !f.hand.push(nc) {
		c.Close()
	}
}

// Connection states, for the watcher.
const (
	stateIdle int32 = iota // waiting for the first byte of a request
	stateHead              // part of a head has arrived
	stateBusy              // a request is being served
	// stateHanded: given to net/http. The watcher must no longer touch
	// its deadlines: an interrupt meant for the fast path's read would
	// abort net/http's, which then closes the connection with a request
	// unread (a reset the client sees as a lost request).
	stateHanded
)

// Why a connection's read was interrupted.
const (
	whyNone int32 = iota
	whyDrain
	whyIdle
	whyHead
)

type fastConn struct {
	f      *Fast
	c      net.Conn
	ip     string
	r      *fastReq // the request being served (from reqPool), or nil
	bp     *[]byte  // the upstream request being built (from bufPool), or nil
	input           // what has been read from c, and how it is read
	hinted bool
	state  atomic.Int32
	gen    atomic.Uint32 // state changes

	// owned by the watcher
	seenGen uint32
	seenAt  time.Time

	ctx  context.Context // its requests'
	peek *peeker
	hs   fastHead // its response heads' headSink

	mu  sync.Mutex
	why int32 // set by interrupt, read and cleared by serve
}

// interrupt makes a read waiting for a request return at once. Call with
// f.mu held.
func (c *fastConn) interrupt(why int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.state.Load(); st == stateBusy || st == stateHanded || c.why == whyDrain {
		return // busy: looks at f.draining itself when done
	}
	c.why = why
	_ = c.c.SetReadDeadline(aLongTimeAgo)
}

// bound sets a deadline on c's reads and writes, unless c has been handed
// to net/http.
func (c *fastConn) bound(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stateHanded {
		_ = c.c.SetDeadline(t)
	}
}

// setState moves to st and returns the interruption pending, if any,
// clearing it (and the deadline it set) when entering stateBusy.
func (c *fastConn) setState(st int32) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Store(st)
	c.gen.Add(1)
	why := c.why
	if (st == stateBusy || st == stateHanded) && why != whyNone {
		c.why = whyNone
		_ = c.c.SetReadDeadline(time.Time{})
	}
	return why
}

func (c *fastConn) serve() {
	handed := false
	defer func() {
		if !handed {
			c.c.Close()
		}
		c.f.forget(c)
	}()
	if ra, ok := c.c.RemoteAddr().(*net.TCPAddr); ok {
		c.ip = ra.IP.String()
	} else if ip, _, err := net.SplitHostPort(c.c.RemoteAddr().String()); err == nil {
		c.ip = ip
	}
	defer c.in.drop()
	defer c.endRound()
	c.peek = newPeeker(c.c)
	c.ctx = &clientCtx{Context: c.f.ctx, peek: c.peek}
	c.fd = -1
	c.initRead()
	for {
		switch c.run() {
		case exitHand:
			c.setState(stateHanded)
			c.f.handOver(c.c, c.in.buffered(), true)
			handed = true
			return
		case exitLinger:
			c.lingerClose()
			return
		case exitClose:
			return
		}
	}
}

// clientCtx is a fast request's context: the drain's hold, and the
// client's presence. The forwarder polls Err while it waits for the
// application (ctxReader), so a client that has gone is noticed then,
// with one non-blocking peek, instead of by a read in the background on
// every request as net/http does.
type clientCtx struct {
	context.Context
	peek *peeker
}

func (x *clientCtx) Err() error {
	if err := x.Context.Err(); err != nil {
		return err
	}
	if x.peek.peerClosed() {
		return context.Canceled
	}
	return nil
}

// isDraining reports whether the drain has begun: from the moment the
// Drainer's channel is closed, not when the watcher gets to it.
func (f *Fast) isDraining() bool {
	select {
	case <-f.drainCh:
		return true
	default:
		return false
	}
}

// lingerClose closes after a response with "Connection: close" the way
// net/http does: the FIN first, then whatever the client still sends is
// read (briefly) so that the close does not turn into a reset that could
// destroy the response in the client's receive buffer.
func (c *fastConn) lingerClose() {
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var buf [512]byte
		for {
			if _, err := c.c.Read(buf[:]); err != nil {
				break
			}
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// handoff is the listener net/http serves: connections the fast path
// hands over.
type handoff struct {
	ln   net.Listener
	ch   chan handed
	done chan struct{} // Serve returned: no more connections
	once sync.Once

	mu   sync.Mutex
	last chan struct{} // the ack of the connection Accept returned last
}

type handed struct {
	c   net.Conn
	ack chan struct{}
}

// push hands c to net/http. It returns once net/http has taken it in, so
// that the Drainer counts it before the fast path lets go of its hold.
func (h *handoff) push(c net.Conn) bool {
	ack := make(chan struct{})
	select {
	case h.ch <- handed{c, ack}:
	case <-h.done:
		return false
	}
	// net/http's Serve calls Accept again only after it has wrapped the
	// connection (the Drainer's listener tracks it) and set it StateNew.
	<-ack
	return true
}

func (h *handoff) Accept() (net.Conn, error) {
	h.mu.Lock()
	if h.last != nil {
		close(h.last)
		h.last = nil
	}
	h.mu.Unlock()
	select {
	case x := <-h.ch:
		h.mu.Lock()
		h.last = x.ack
		h.mu.Unlock()
		return x.c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	var err error
	h.once.Do(func() { err = h.ln.Close() })
	return err
}

func (h *handoff) Addr() net.Addr { return h.ln.Addr() }

// handedConn is a connection the fast path hands to net/http. It replays
// the bytes the fast path had read (prefix); and, on a connection that the
// fast path held open with nothing of a request read (waiting), it keeps
// net/http's read deadlines off the socket until a first byte arrives.
//
// Why: for net/http a handed-over connection is new, and for a new
// connection's first request it arms ReadHeaderTimeout at once (only
// between requests on a kept-alive connection does it wait for the first
// byte, Peek(4), before arming it). The fast path hands over every quiet
// keep-alive connection when the drain begins, so each would otherwise be
// closed ReadHeaderTimeout into the drain, under a client that had been
// promised a longer keep-alive (bench/scale: 1 918 of 19 000 lost at +10 s).
// The deadline net/http asked for is armed when the first byte arrives,
// moved by the time it waited, so a slow head is still cut that long after
// its first byte. Until then, when such a quiet connection is closed is the
// Drainer's idle policy's decision, as for its own idle connections: it
// tracks the connection (it came through its listener), sees it quiet
// (StateNew, no byte read, a Read waiting in the kernel, nothing queued) and
// closes it per [drain.IdlePolicy]. A deadline in the past (net/http
// aborting a read) always reaches the socket.
type handedConn struct {
	net.Conn
	prefix []byte // read by the fast path, not yet by net/http

	waiting atomic.Bool // no byte read since the hand-over (set before the hand-over)
	mu      sync.Mutex  // guards the deadline's hand-off below with waiting
	held    time.Time   // the read deadline net/http set while waiting (zero: none)
	heldAt  time.Time   // when it set it
	past    bool        // a past deadline was passed to the socket while waiting
}

func (c *handedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.waiting.Load() {
		c.mu.Lock()
		if c.waiting.Load() {
			c.waiting.Store(false)
			if !c.held.IsZero() {
				_ = c.Conn.SetReadDeadline(c.held.Add(time.Since(c.heldAt)))
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *handedConn) SetReadDeadline(t time.Time) error {
	if !c.waiting.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.waiting.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	now := time.Now()
	if !t.IsZero() && t.Before(now) {
		c.past = true
		return c.Conn.SetReadDeadline(t)
	}
	c.held, c.heldAt = t, now
	if c.past {
		c.past = false
		return c.Conn.SetReadDeadline(time.Time{})
	}
	return nil
}

func (c *handedConn) SetDeadline(t time.Time) error {
	err := c.SetReadDeadline(t)
	if werr := c.Conn.SetWriteDeadline(t); err == nil {
		err = werr
	}
	return err
}

func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *handedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
