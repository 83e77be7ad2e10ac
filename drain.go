package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for the zero fields of [Options]. The drain command uses the same
// constants as its flag defaults.
const (
	// DefaultKubernetesDelay is the propagation delay when the process runs
	// in Kubernetes (KUBERNETES_SERVICE_HOST is set): long enough for
	// kube-proxy on every node to drop the endpoint after the pod is deleted
	// (about 1 s measured on one node; several on busy clusters).
	DefaultKubernetesDelay = 5 * time.Second
	// DefaultKeepAlive is the keep-alive timeout advertised and enforced
	// when neither Options.KeepAlive nor http.Server.IdleTimeout is set. It
	// is Node.js's server default.
	DefaultKeepAlive = 5 * time.Second
	// DefaultDeadline is how long after the drain began in-flight handlers'
	// contexts are cancelled. With DefaultForceAfter it ends every drain
	// within 25 s, inside Kubernetes' default 30 s grace period.
	DefaultDeadline = 20 * time.Second
	// DefaultForceAfter is how long after the deadline every remaining
	// connection is closed.
	DefaultForceAfter = 5 * time.Second
	// DefaultCleanupTimeout bounds each step registered with OnShutdown.
	DefaultCleanupTimeout = 5 * time.Second
)

// sameSignal is how soon after a context-triggered drain a signal counts as
// the one that cancelled the context, not a second one.
const sameSignal = 250 * time.Millisecond

// pollInterval is how often the closing phase looks at idle connections
// while nothing else wakes it.
const pollInterval = 5 * time.Millisecond

var (
	// ErrDeadline is returned by [Drainer.Run] when connections were still
	// open, or holds ([Drainer.Hold]) outstanding, at [Options.Deadline] and
	// their contexts had to be cancelled.
	ErrDeadline = errors.New("drain: deadline reached before connections drained")
	// ErrForced is returned by [Drainer.Run] when a second signal or
	// [Drainer.Stop] call, or [Options.ForceAfter], closed connections that
	// were still in use or gave up on outstanding holds ([Drainer.Hold]).
	ErrForced = errors.New("drain: forced to close connections still in use")
	// ErrRunOnce is returned by a second call to [Drainer.Run].
	ErrRunOnce = errors.New("drain: Run called twice")
)

// Options configure a [Drainer]. The zero value is the lossless drain with
// the documented defaults.
type Options struct {
	// Delay is the propagation delay (lame duck): after the drain begins the
	// listeners keep accepting and every request is served, with
	// "Connection: close", for this long, so that the endpoint removal can
	// reach every load balancer. Zero means DefaultKubernetesDelay when the
	// environment variable KUBERNETES_SERVICE_HOST is set and no delay
	// otherwise; negative means no delay.
	Delay time.Duration

	// Ready says when [Drainer.Ready] starts answering 503; see
	// [ReadyPolicy]. The zero value is ReadyAuto: ReadyThroughDelay when
	// the environment variable KUBERNETES_SERVICE_HOST is set,
	// ReadyUntilDrain otherwise.
	Ready ReadyPolicy

	// Quiet ends the delay early once no new connection has been accepted
	// for this long since the drain began. It is safe when every router that
	// could still send a new connection would have sent one within Quiet,
	// for example one in-process load balancer with steady traffic; with
	// many routers that update one by one it is not, so zero (the default)
	// and negative values never end the delay early.
	Quiet time.Duration

	// Idle says when idle keep-alive connections are closed; see
	// [IdlePolicy]. The zero value is IdleKeepAlive.
	Idle IdlePolicy

	// KeepAlive is the keep-alive timeout: advertised on the first HTTP/1.1
	// response of each connection as "Keep-Alive: timeout=N", used as http.Server.IdleTimeout
	// when that is zero, and used by IdleKeepAlive. Zero means the server's
	// IdleTimeout if set, else DefaultKeepAlive; negative means no hint and
	// no idle timeout, which makes IdleKeepAlive behave as IdleOneMore.
	KeepAlive time.Duration

	// Deadline is how long after the drain began the contexts of in-flight
	// handlers are cancelled. Zero means DefaultDeadline.
	Deadline time.Duration

	// ForceAfter is how long after Deadline every remaining connection is
	// closed. Zero means DefaultForceAfter.
	ForceAfter time.Duration

	// CleanupTimeout bounds each step registered with OnShutdown. Zero means
	// DefaultCleanupTimeout.
	CleanupTimeout time.Duration

	// Signals start the drain; a second one forces it. Nil means SIGTERM and
	// SIGINT; an empty non-nil slice means no signals (use the context or
	// Stop).
	Signals []os.Signal

	// Logger receives one record per phase. Nil means slog.Default().
	Logger *slog.Logger
}

// resolved returns o with every zero field replaced by its default.
func (o Options) resolved() Options {
	if o.Delay == 0 {
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			o.Delay = DefaultKubernetesDelay
		}
	}
	o.Delay = max(o.Delay, 0)
	if o.Ready == ReadyAuto {
		o.Ready = ReadyUntilDrain
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			o.Ready = ReadyThroughDelay
		}
	}
	o.Quiet = max(o.Quiet, 0)
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.ForceAfter <= 0 {
		o.ForceAfter = DefaultForceAfter
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = DefaultCleanupTimeout
	}
	if o.Signals == nil {
		o.Signals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// A Drainer serves one or more [http.Server]s and drains them together.
// Create one with [New], register servers with [Drainer.Add] and cleanup
// steps with [Drainer.OnShutdown], mount [Drainer.Ready], then call
// [Drainer.Run] once. Its methods are safe for concurrent use.
type Drainer struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // guards servers, cleanups, ran, holds, and the ending of holdCtx
	servers  []*server
	cleanups []cleanup
	ran      bool
	holds    int // outstanding Holds

	holdCtx    context.Context // returned by every Hold
	endHolding context.CancelCauseFunc

	phase      atomic.Int32
	draining   chan struct{} // closed when the drain begins
	stop       chan struct{} // closed by the first trigger
	force      chan struct{} // closed by the second trigger
	triggers   atomic.Int32
	wake       chan struct{} // pokes the closing loop
	lastAccept atomic.Int64  // unix nanos of the last accepted connection
	drainStart atomic.Int64  // unix nanos
	drainEnd   atomic.Int64

	lingerMu  sync.Mutex // orders linger's Add before the drain's Wait
	lingerEnd bool       // the drain no longer waits for lingering closes
	lingering sync.WaitGroup
}

// linger counts one awaitPeerFin goroutine, unless the drain has stopped
// waiting for them (then the connection is simply left to net/http).
func (d *Drainer) linger() bool {
	d.lingerMu.Lock()
	defer d.lingerMu.Unlock()
	if d.lingerEnd {
		return false
	}
	d.lingering.Add(1)
	return true
}

type cleanup struct {
	name string
	fn   func(context.Context) error
}

// New returns a Drainer with the given options.
func New(opts Options) *Drainer {
	o := opts.resolved()
	d := &Drainer{
		opts:     o,
		log:      o.Logger,
		draining: make(chan struct{}),
		stop:     make(chan struct{}),
		force:    make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	d.holdCtx, d.endHolding = context.WithCancelCause(context.Background())
	return d
}

// Add registers srv to be served and drained by Run. If ln is nil, Run
// listens on srv.Addr (":http" if empty). If srv.TLSConfig has a certificate
// source, connections are served with TLS (and HTTP/2 when srv.Protocols
// allows it); otherwise in clear text, HTTP/2 too (h2c) when srv.Protocols
// enables unencrypted HTTP/2.
//
// Add changes srv: it wraps Handler (adding the response headers of the
// drain), chains ConnState and BaseContext, and sets IdleTimeout to the
// keep-alive timeout when it is zero. Call Add before Run.
func (d *Drainer) Add(srv *http.Server, ln net.Listener) {
	s := &server{d: d, hs: srv, conns: make(map[*trackedConn]struct{})}
	s.keepAlive = d.opts.KeepAlive
	if s.keepAlive == 0 {
		s.keepAlive = srv.IdleTimeout
	}
	if s.keepAlive == 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.keepAlive > 0 {
		if srv.IdleTimeout == 0 {
			srv.IdleTimeout = s.keepAlive
		}
		// With no ReadTimeout, net/http's only read deadline while idle is
		// IdleTimeout: keep it lazily (see trackedConn.SetReadDeadline).
		s.lazyIdle = srv.ReadTimeout == 0 && srv.IdleTimeout > 0
		s.hint = []string{"timeout=" + strconv.Itoa(int(max(s.keepAlive/time.Second, 1)))}
	}
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
	d.mu.Lock()
	d.servers = append(d.servers, s)
	d.mu.Unlock()
}

// OnShutdown registers a cleanup step (close a database pool, flush a
// tracer) to run after every server has drained. Steps run one at a time in
// reverse order of registration, each with a context that expires after
// Options.CleanupTimeout. Their errors are joined into Run's result.
func (d *Drainer) OnShutdown(name string, fn func(ctx context.Context) error) {
	d.mu.Lock()
	d.cleanups = append(d.cleanups, cleanup{name, fn})
	d.mu.Unlock()
}

// Stop begins the drain, like a signal. A second call forces it: every
// connection is closed at once. Stop reports whether this call began the
// drain. It is safe to call at any time, also before Run and after Run
// returned.
func (d *Drainer) Stop() bool {
	switch d.triggers.Add(1) {
	case 1:
		close(d.stop)
		return true
	case 2:
		close(d.force)
	}
	return false
}

// Hold keeps the drain open for work the Drainer does not see: connections
// served outside its http.Servers, a job queue, a stream to a peer. The
// closing phase ([PhaseClosing], after the lame duck) does not end while a
// hold is outstanding, as it waits for a server's busy connections. Calling
// release ends the hold; calling it again does nothing.
//
// The returned context is not cancelled when the drain begins (select on
// [Drainer.Draining] for that). It is cancelled at the drain's deadline
// ([PhaseCancelling]: the holder must stop its work, as handlers see their
// request contexts cancelled) and, at the latest, when the drain forces
// ([Options.ForceAfter] after the deadline, or a second signal or Stop);
// context.Cause then reports [ErrDeadline] or [ErrForced]. From the force on
// the drain no longer waits for holds, and an outstanding one makes Run
// return ErrForced. Every hold shares the one context, which is also
// cancelled, with [context.Canceled], when the drain stops waiting because
// nothing is left or when Run returns: a hold taken after that, in
// [PhaseCleanup] or after Run returned, gets an already cancelled context.
//
// Hold is safe to call from any goroutine, before or during Run.
func (d *Drainer) Hold() (ctx context.Context, release func()) {
	d.mu.Lock()
	d.holds++
	d.mu.Unlock()
	var released atomic.Bool
	return d.holdCtx, func() {
		if released.Swap(true) {
			return
		}
		d.mu.Lock()
		d.holds--
		d.mu.Unlock()
		// The closing loop would otherwise see it only at its next poll.
		d.poke()
	}
}

// holdsLeft returns the number of outstanding holds. If there are none and
// last is set, it ends holding under the same lock, so that a Hold racing
// with the end of the drain is either counted or handed a cancelled context.
func (d *Drainer) holdsLeft(last bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holds == 0 && last {
		d.endHolding(nil)
	}
	return d.holds
}

// endHolds stops the drain waiting for holds: it cancels their context with
// cause (unless it was cancelled already) and returns how many were still
// outstanding.
func (d *Drainer) endHolds(cause error) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.endHolding(cause)
	return d.holds
}

// Draining returns a channel closed when the drain begins. Long-lived
// handlers (long polls, server-sent events, hijacked WebSockets) select on it
// to finish on their own before the deadline.
func (d *Drainer) Draining() <-chan struct{} { return d.draining }

// Phase returns the current phase.
func (d *Drainer) Phase() Phase { return Phase(d.phase.Load()) }

// Ready returns the readiness handler: 200 while serving, 503 once the
// drain reaches the phase [Options.Ready] says (the lame duck or the
// listeners' close). Mount it where the readiness probe looks.
func (d *Drainer) Ready() http.Handler {
	notReady := PhaseLameDuck
	if d.opts.Ready == ReadyThroughDelay {
		notReady = PhaseClosing
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if d.Phase() >= notReady {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Live returns the liveness handler: 200 until the process exits, so the
// kubelet never restarts a pod for draining.
func (d *Drainer) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// ListenAndServe serves srv with a Drainer using opts until SIGTERM or
// SIGINT, then drains it. It returns nil after a clean drain; see
// [Drainer.Run] for the errors.
func ListenAndServe(srv *http.Server, opts Options) error {
	d := New(opts)
	d.Add(srv, nil)
	return d.Run(context.Background())
}

// Run listens (for servers added without a listener), serves every server,
// and waits for a signal from Options.Signals, ctx's cancellation or a
// [Drainer.Stop] call. Then it drains all servers together through the
// phases of [Phase] and runs the cleanup steps.
//
// Run returns nil when every connection closed and every hold was released
// before the deadline and every cleanup succeeded; [ErrDeadline] when
// handler or hold contexts had to be cancelled; [ErrForced] (joined with
// ErrDeadline when both apply) when connections still in use were closed or
// holds ([Drainer.Hold]) were still outstanding; a listen error before
// serving; or a serve error of one server after draining the others. No goroutine of Run
// survives it, except net/http's own connection goroutines finishing their
// fixed 500 ms lingering close on sockets the drain already closed.
//
// A Drainer runs once; a second call returns [ErrRunOnce].
func (d *Drainer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.ran {
		d.mu.Unlock()
		return ErrRunOnce
	}
	d.ran = true
	servers := append([]*server(nil), d.servers...)
	d.mu.Unlock()

	for i, s := range servers {
		if err := s.listen(); err != nil {
			for _, o := range servers[:i] {
				o.ln.Close()
			}
			// No drain will end the holds: do not leave a holder waiting.
			d.endHolds(nil)
			return err
		}
	}

	sig := make(chan os.Signal, 2)
	if len(d.opts.Signals) > 0 {
		signal.Notify(sig, d.opts.Signals...)
		defer signal.Stop(sig)
	}

	var serving sync.WaitGroup
	serveErr := make(chan error, len(servers))
	for _, s := range servers {
		serving.Go(func() {
			if err := s.serve(); err != nil {
				serveErr <- err
				d.poke()
			}
		})
	}

	stopSweep := make(chan struct{})
	var sweeping sync.WaitGroup
	sweeping.Go(func() { d.idleSweep(servers, stopSweep) })

	var failed error
	cause := ""
	viaCtx := false
	select {
	case <-ctx.Done():
		cause = "context: " + context.Cause(ctx).Error()
		viaCtx = true
	case s := <-sig:
		cause = "signal: " + s.String()
	case <-d.stop:
		cause = "Stop"
	case failed = <-serveErr:
		cause = "serve error: " + failed.Error()
	}
	// A signal or Stop after this point forces. When a context cancelled by
	// signal.NotifyContext began the drain, the same signal also reaches sig
	// a moment later: one within sameSignal of the start is that one.
	d.triggers.CompareAndSwap(0, 1)
	triggered := time.Now()
	go func() {
		for {
			select {
			case <-sig:
				if viaCtx && time.Since(triggered) < sameSignal {
					continue
				}
				d.Stop()
				d.Stop()
			case <-d.force:
			}
			return
		}
	}()

	err := d.drain(servers, cause)
	close(stopSweep)
	sweeping.Wait()
	serving.Wait()
	if failed == nil {
		select {
		case failed = <-serveErr:
		default:
		}
	}
	d.Stop()
	d.Stop() // release the signal goroutine above
	if failed != nil {
		err = errors.Join(failed, err)
	}
	return err
}

// idleSweep enforces the keep-alive idle deadlines that trackedConn keeps
// lazily, until stop is closed. It closes only quiet connections.
func (d *Drainer) idleSweep(servers []*server, stop <-chan struct{}) {
	period := time.Second
	for _, s := range servers {
		if s.lazyIdle {
			period = min(period, max(s.keepAlive/10, 10*time.Millisecond))
		}
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, s := range servers {
				if s.lazyIdle {
					s.closeExpired(now.UnixNano())
				}
			}
		}
	}
}

// drain runs the phases; called once by Run's goroutine, which owns them.
func (d *Drainer) drain(servers []*server, cause string) error {
	start := time.Now()
	d.drainStart.Store(start.UnixNano())
	d.phase.Store(int32(PhaseLameDuck))
	close(d.draining)
	d.log.Info("drain: lame duck", "cause", cause, "delay", d.opts.Delay, "idle_policy", d.opts.Idle.String(), "conns", d.stats(servers).Conns)

	forced := false
	if d.opts.Delay > 0 {
		forced = d.lameDuck(start)
	}

	d.phase.Store(int32(PhaseClosing))
	for _, s := range servers {
		s.ln.Close()
	}
	closingAt := time.Now()
	st := d.stats(servers)
	d.log.Info("drain: listeners closed", "after", closingAt.Sub(start).Round(time.Millisecond), "conns", st.Conns, "active", st.Active, "idle", st.Idle, "new", st.New, "hijacked", st.Hijacked, "http2", st.HTTP2, "holds", d.holdsLeft(false))

	deadline := start.Add(d.opts.Deadline)
	forceAt := deadline.Add(d.opts.ForceAfter)
	var shutdowns sync.WaitGroup
	shutCtx, cancelShut := context.WithCancel(context.Background())
	defer cancelShut()
	hitDeadline := false
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for !forced {
		now := time.Now()
		pending := 0
		for _, s := range servers {
			n, onlyH2 := s.sweep(now, closingAt, deadline)
			pending += n
			if onlyH2 && !s.shutdownStarted {
				// Only HTTP/2 connections are left: Shutdown sends them
				// GOAWAY without touching HTTP/1 connections.
				s.shutdownStarted = true
				shutdowns.Go(func() { _ = s.hs.Shutdown(shutCtx) })
			}
		}
		// Holds are counted after the connections: the drain ends only
		// when both are gone.
		held := d.holdsLeft(pending == 0)
		if pending+held == 0 {
			break
		}
		if !hitDeadline && !now.Before(deadline) {
			hitDeadline = true
			d.phase.Store(int32(PhaseCancelling))
			for _, s := range servers {
				s.cancelHandlers()
			}
			d.endHolding(ErrDeadline)
			st := d.stats(servers)
			d.log.Warn("drain: deadline reached, cancelling handlers", "conns", st.Conns, "active", st.Active, "hijacked", st.Hijacked, "holds", held)
		}
		if !now.Before(forceAt) {
			forced = true
			break
		}
		select {
		case <-ticker.C:
		case <-d.wake:
		case <-d.force:
			forced = true
		}
	}
	abandoned := 0
	if forced {
		abandoned = d.endHolds(ErrForced)
		st := d.stats(servers)
		d.log.Warn("drain: forcing close", "conns", st.Conns, "holds", abandoned)
		for _, s := range servers {
			s.closeAll(closedForced)
		}
	}
	cancelShut()
	for _, s := range servers {
		s.cancelHandlers()
		_ = s.hs.Close()
	}
	shutdowns.Wait()
	d.lingerMu.Lock()
	d.lingerEnd = true
	d.lingerMu.Unlock()
	d.lingering.Wait()

	d.phase.Store(int32(PhaseCleanup))
	cerr := d.runCleanups()
	end := time.Now()
	d.drainEnd.Store(end.UnixNano())
	d.phase.Store(int32(PhaseDone))
	st = d.stats(servers)
	d.log.Info("drain: done", "duration", end.Sub(start).Round(time.Millisecond), "accepted", st.Accepted,
		"closed_by_peer", st.ClosedByPeer, "closed_idle", st.ClosedIdle, "closed_forced", st.ClosedForced,
		"deadline", hitDeadline, "forced", forced)

	var err error
	if hitDeadline {
		err = ErrDeadline
	}
	if forced && (st.ClosedForced > 0 || abandoned > 0) {
		err = errors.Join(ErrForced, err)
	}
	return errors.Join(err, cerr)
}

// lameDuck waits out the propagation delay; it reports whether a second
// trigger forced the drain meanwhile.
func (d *Drainer) lameDuck(start time.Time) bool {
	end := time.NewTimer(d.opts.Delay)
	defer end.Stop()
	var quiet <-chan time.Time
	if d.opts.Quiet > 0 {
		t := time.NewTicker(max(d.opts.Quiet/8, time.Millisecond))
		defer t.Stop()
		quiet = t.C
	}
	for {
		select {
		case <-end.C:
			return false
		case <-d.force:
			return true
		case now := <-quiet:
			last := max(start.UnixNano(), d.lastAccept.Load())
			if now.Sub(time.Unix(0, last)) >= d.opts.Quiet {
				d.log.Info("drain: delay ended early", "quiet", d.opts.Quiet, "after", now.Sub(start).Round(time.Millisecond))
				return false
			}
		}
	}
}

func (d *Drainer) runCleanups() error {
	d.mu.Lock()
	steps := append([]cleanup(nil), d.cleanups...)
	d.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		c := steps[i]
		ctx, cancel := context.WithTimeout(context.Background(), d.opts.CleanupTimeout)
		t := time.Now()
		err := runStep(ctx, c.fn)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("drain: cleanup %q: %w", c.name, err))
		}
		d.log.Info("drain: cleanup", "step", c.name, "duration", time.Since(t).Round(time.Millisecond), "err", err)
	}
	return errors.Join(errs...)
}

// runStep bounds a step that ignores its context: it returns when ctx
// expires even if fn does not (fn's goroutine then finishes on its own).
func runStep(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Drainer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

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
	if h.d.phase.Load() != int32(PhaseServing) {
		// net/http closes the connection after this response; HTTP/2
		// turns it into a graceful GOAWAY for the connection.
		w.Header()["Connection"] = closeHeader
	} else if h.hint != nil && r.ProtoMajor == 1 {
		// Once per connection: clients keep the hint, and a header on
		// every response would cost four allocations per request.
		if c, ok := r.Context().Value(connKey{}).(*trackedConn); ok && !c.hinted.Swap(true) {
			w.Header()["Keep-Alive"] = h.hint
		}
	}
	h.h.ServeHTTP(w, r)
}

// server is one http.Server under a Drainer.
type server struct {
	d         *Drainer
	hs        *http.Server
	ln        *listener
	tls       bool
	keepAlive time.Duration
	hint      []string
	lazyIdle  bool // idle deadlines are enforced by idleSweep, not the socket

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

// sweep closes the idle HTTP/1 connections the policy says to close. It
// returns how many connections are still pending and whether all of them
// speak HTTP/2 (or are hijacked), so Shutdown can send GOAWAY safely.
func (s *server) sweep(now, closingAt, deadline time.Time) (pending int, onlyH2 bool) {
	var toClose []*trackedConn
	h1 := 0
	h2 := 0
	s.mu.Lock()
	for c := range s.conns {
		if c.finWait && c.peerFin {
			continue
		}
		pending++
		if c.h2.Load() {
			h2++
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
		if !now.Before(at) && c.quiet() {
			c.closing = true
			c.reason = closedIdle
			toClose = append(toClose, c)
		}
	}
	s.mu.Unlock()
	for _, c := range toClose {
		c.Conn.Close()
	}
	return pending, h2 > 0 && h1 == 0
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
		if dl != 0 && dl <= now && !c.closing && (c.quiet() || dl+int64(s.keepAlive) <= now) {
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
