package drain

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
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
	// DefaultKeepAlive is the keep-alive timeout advertised (and used by
	// IdleKeepAlive during a drain) when neither Options.KeepAlive nor
	// http.Server.IdleTimeout is set. It is Node.js's server default. It is
	// not enforced while serving: see Options.KeepAlive.
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

var (
	// ErrDeadline is returned by [Drainer.Run] when connections were still
	// open, or holds ([Drainer.Hold]) outstanding, at [Options.Deadline] and
	// their contexts had to be cancelled.
	ErrDeadline = errors.New("drain: deadline reached before connections drained")
	// ErrForced is returned by [Drainer.Run] when a second signal, a second
	// [Drainer.Stop] call, or [Options.ForceAfter] closed connections that
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

	// KeepAlive is the keep-alive timeout N: advertised on the first
	// HTTP/1.1 response of each connection as "Keep-Alive: timeout=N", and
	// used by IdleKeepAlive during a drain. It is not enforced while
	// serving: the library leaves http.Server.IdleTimeout as the caller set
	// it, so that a client ignoring the hint never races a close a plain
	// http.Server would not make (set IdleTimeout to bound idle
	// connections; the library then enforces it only on connections that
	// have received nothing of a next request). Zero means the server's
	// IdleTimeout if set, else DefaultKeepAlive; negative means no hint,
	// and IdleKeepAlive then behaves as IdleOneMore.
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

	// Signals start the drain (or join the drain a context or Stop began);
	// a second signal forces it, however soon it follows the first. Nil
	// means SIGTERM and SIGINT; an empty non-nil slice means no signals
	// (use the context or Stop).
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

	holdCtx     context.Context         // returned by every Hold
	cancelHolds context.CancelCauseFunc // ends holdCtx; see hold.go

	phase      atomic.Int32
	draining   chan struct{} // closed when the drain begins
	stop       chan struct{} // closed by the first Stop call
	force      chan struct{} // closed by forceNow: a second Stop call or signal
	forceOnce  sync.Once
	stops      atomic.Int32  // Stop calls
	wake       chan struct{} // pokes the closing loop
	lastAccept atomic.Int64  // unix nanos of the last accepted connection
	drainStart atomic.Int64  // unix nanos
	drainEnd   atomic.Int64
	sweeps     atomic.Int64 // iterations of the closing loop (its cost, for tests)
	swept      atomic.Int64 // pending connections those iterations looked at

	lingerMu  sync.Mutex // orders linger's Add before the drain's Wait
	lingerEnd bool       // the drain no longer waits for lingering closes
	lingering sync.WaitGroup
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
	d.holdCtx, d.cancelHolds = context.WithCancelCause(context.Background())
	return d
}

// Add registers srv to be served and drained by Run. If ln is nil, Run
// listens on srv.Addr (":http" if empty). If srv.TLSConfig has a certificate
// source, connections are served with TLS (and HTTP/2 when srv.Protocols
// allows it); otherwise in clear text, HTTP/2 too (h2c) when srv.Protocols
// enables unencrypted HTTP/2.
//
// Add changes srv: it wraps Handler (adding the response headers of the
// drain) and chains ConnState, ConnContext and BaseContext. It leaves the
// timeouts alone. Call Add before Run.
func (d *Drainer) Add(srv *http.Server, ln net.Listener) {
	s := newServer(d, srv, ln)
	d.mu.Lock()
	d.servers = append(d.servers, s)
	d.mu.Unlock()
}

// Options.CleanupTimeout. Their errors are joined into Run's result.
func (d *Drainer) OnShutdown(name string, fn func(ctx context.Context) error) {
	d.mu.Lock()
	d.cleanups = append(d.cleanups, cleanup{name, fn})
	d.mu.Unlock()
}

// Stop begins the drain, like a signal or the cancellation of Run's
// context; if one of those began it already, the first Stop joins that
// drain and does not force it. A second Stop call forces the drain: every
// connection is closed at once. So Stop is the interrupt oklog/run and
// errgroup expect: one call from the group's teardown never forces.
//
// Stop reports whether this was the first call. It is safe to call at any
// time and from any goroutine, also before Run (the drain then begins as
// soon as Run serves) and after Run returned (it does nothing then).
func (d *Drainer) Stop() bool {
	switch d.stops.Add(1) {
	case 1:
		close(d.stop)
		return true
	case 2:
		d.forceNow()
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
	return d.run(ctx)
}
