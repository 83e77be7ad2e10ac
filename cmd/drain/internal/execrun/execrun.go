// Package execrun is drain exec without its command line: it starts the
// application (package child), waits until it is ready, serves the public
// side through the proxy (package proxy) under the drain library, and on
// the drain's signal drains it, then stops the application and returns
// its exit status. cmd/drain's execcmd.go only turns flags into a
// [Config].
package execrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drainhttp/drain"
	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/proxy"
)

// Config is one run of drain exec. The command line fills in every field
// with its defaults; Drain's zero fields take the library's.
type Config struct {
	// Path is the program (resolved, e.g. by exec.LookPath); Command its
	// argv, Command[0] included, with {port}, {addr} and {host} not yet
	// replaced.
	Path    string
	Command []string
	// Listen is the public address.
	Listen string
	// ReadyPath is the public readiness path; UpstreamReadyPath the
	// application's, probed until it is ready (TCPReady: a TCP connect
	// instead, and drain exec answers ReadyPath itself while serving).
	ReadyPath, UpstreamReadyPath string
	TCPReady                     bool
	ReadyTimeout                 time.Duration
	// ReadyProbeTimeout is how long the application has to answer while
	// ReadyPath claims readiness: its own answer to ReadyPath while
	// serving, or (TCPReady, and in the lame duck) a GET of
	// UpstreamReadyPath, any status. Without an answer in time ReadyPath
	// answers 503. Zero means DefaultReadyProbeTimeout.
	ReadyProbeTimeout time.Duration
	// ChildSignal (named ChildSignalName, for the log) is sent to the
	// application once the public side has drained; ChildGrace later its
	// process group gets SIGKILL.
	ChildSignal     syscall.Signal
	ChildSignalName string
	ChildGrace      time.Duration
	TrustForwarded  bool
	// Drain is the drain's options (Signals and Logger are set by Run).
	Drain             drain.Options
	ReadHeaderTimeout time.Duration
	MaxHeaderBytes    int
	FastPath          bool
	// ReapAll makes this process the reaper of every orphan (only a
	// process that starts no other children may set it).
	ReapAll bool
	// Quiet logs warnings only.
	Quiet bool

	// Stdin, Stdout and Stderr are the application's, by child.Config's
	// rules (a file is passed as is; another writer gets the output
	// through child's pipe; a Stdin that is not a file: /dev/null).
	// Stderr also gets drain exec's log (from several goroutines unless
	// it is a file).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ErrStart marks a run that failed before serving: the public port is
// taken, the application could not start, exited before it was ready or
// was not ready in time. The command line exits 2 for it.
var ErrStart = errors.New("drain exec: the application could not be started")

// startErrorf returns an error wrapping ErrStart whose message is the
// formatted one alone (the command line prints it as is).
func startErrorf(format string, a ...any) error {
	return startError{fmt.Errorf(format, a...)}
}

type startError struct{ err error }

func (e startError) Error() string        { return e.err.Error() }
func (e startError) Is(target error) bool { return target == ErrStart }
func (e startError) Unwrap() error        { return e.err }

// ExitError carries the application's exit status out of [Run] when it is
// not 0.
type ExitError struct {
	Code   int    // the status drain exec exits with: the application's, or 128+N for signal N
	Status string // "exited with status N" or "was killed by signal S"
}

func (e ExitError) Error() string { return "the application " + e.Status }

// ExitCode is the status drain exec exits with.
func (e ExitError) ExitCode() int { return e.Code }

// readyInterval is how often the application is probed until it is ready.
const readyInterval = 20 * time.Millisecond

// DefaultReadyProbeTimeout is [Config.ReadyProbeTimeout]'s default: the
// kubelet's default probe timeout (timeoutSeconds: 1), so that drain exec
// never fails a probe the application alone would have passed.
const DefaultReadyProbeTimeout = time.Second

// errNoAnswer is the cause of a readiness probe's context at its timeout.
var errNoAnswer = errors.New("no answer in time")

// Run runs the application behind the drain until ctx ends or SIGTERM or
// SIGINT arrives, drains, stops the application and returns nil, an
// [ExitError] with its status, or an error wrapping [ErrStart] when it
// could not start.
func Run(ctx context.Context, cfg Config) error {
	level := slog.LevelInfo
	if cfg.Quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return startErrorf("listen on %s: %v (is another server on that port? pick one with --listen or $PORT)", cfg.Listen, err)
	}
	strict := proxy.Listener(ln, log)
	defer strict.Close()
	// Signals: ours for the whole run, so none ever ends drain exec.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGTERM, syscall.SIGINT}, forwarded...)...)
	defer signal.Stop(sigs)

	// Start the application and wait until it is ready, forwarding
	// signals; SIGTERM or SIGINT aborts. Its port is picked free, not
	// reserved: another process may bind it before the application does.
	// When the application exits before it is ready and its port is then
	// in use, it starts again on a fresh one, startTries times in all.
	readyPathUp := cfg.UpstreamReadyPath
	if cfg.TCPReady {
		readyPathUp = ""
	}
	readyCtx, cancelReady := context.WithTimeoutCause(ctx, cfg.ReadyTimeout, fmt.Errorf("not ready after %v", cfg.ReadyTimeout))
	defer cancelReady()
	var app *child.Process
	defer func() {
		if app != nil {
			app.Cleanup(2 * time.Second)
		}
	}()
	var port int
	var upstream string
	for try := 1; ; try++ {
		if port, err = freePort(); err != nil {
			return fmt.Errorf("finding a free port for the application: %w", err)
		}
		upstream = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		app, err = child.Start(child.Config{
			Path: cfg.Path,
			Args: substitute(cfg.Command, port),
			Env:  withEnv(os.Environ(), "PORT", strconv.Itoa(port)),
			// Ours when they are files; else child copies the output.
			Stdin:   cfg.Stdin,
			Stdout:  cfg.Stdout,
			Stderr:  cfg.Stderr,
			ReapAll: cfg.ReapAll,
			Log:     log,
		})
		if err != nil {
			return startErrorf("starting %s: %v", cfg.Command[0], err)
		}
		log.Info("drain exec: started the application", "pid", app.Pid(), "upstream", upstream, "command", strings.Join(cfg.Command, " "))

		readyErr := make(chan error, 1)
		go func() { readyErr <- app.WaitReady(readyCtx, upstream, readyPathUp, readyInterval) }()
		for waiting := true; waiting; {
			select {
			case err = <-readyErr:
				waiting = false
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGINT {
					cancelReady()
					break
				}
				_ = app.Signal(s)
			}
		}
		if err == nil {
			break
		}
		exitedEarly := app.Exited() != ""
		app.Stop(cfg.ChildSignal, cfg.ChildGrace)
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return childExit(app) // stopped before it was ready
		}
		taken := exitedEarly && portInUse(port)
		if taken && try < startTries && readyCtx.Err() == nil {
			app.Cleanup(2 * time.Second)
			// With ReapAll only one waiter may run: start again only
			// once every orphan of this one is reaped.
			if !cfg.ReapAll || len(child.Children()) == 0 {
				log.Warn("drain exec: the application exited before it was ready and its port is in use by another process (taken between drain exec picking it and the application binding it); starting it again on another port", "port", port, "status", app.Exited())
				continue
			}
		}
		hint := ""
		if !cfg.TCPReady {
			hint = fmt.Sprintf(" (does it listen on $PORT or {port} and answer GET %s? see --upstream-ready-path, --tcp-ready)", cfg.UpstreamReadyPath)
		} else {
			hint = " (does it listen on $PORT or {port}?)"
		}
		if taken {
			hint = fmt.Sprintf(" (its port, %d, was in use by another process after it exited: %d tries, each port taken between drain exec picking it and the application binding it)", port, try)
		}
		return startErrorf("%s: %v%s", cfg.Command[0], err, hint)
	}
	cancelReady()
	if exposed(port) {
		log.Warn("drain exec: the application listens on more than loopback; bind it to 127.0.0.1 ({host} or {addr} in ARGS) so only drain exec reaches it", "port", port)
	}

	px := proxy.New(proxy.Config{Upstream: upstream, TrustForwarded: cfg.TrustForwarded, Down: app.Exited, Log: log})
	opts := cfg.Drain
	opts.Signals = []os.Signal{} // counted here: see below
	opts.Logger = log
	d := drain.New(opts)
	rh := readyHandler{cfg: cfg, app: app, px: px, d: d, ready: d.Ready(), log: log}
	if rh.cfg.ReadyProbeTimeout <= 0 {
		rh.cfg.ReadyProbeTimeout = DefaultReadyProbeTimeout
	}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == cfg.ReadyPath {
			rh.ServeHTTP(w, r)
			return
		}
		px.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	var fast *proxy.Fast
	fastDone := make(chan error, 1)
	if cfg.FastPath {
		ka := cfg.Drain.KeepAlive
		if ka == 0 {
			ka = drain.DefaultKeepAlive
		}
		fast = px.NewFast(strict, proxy.FastConfig{ReadyPath: cfg.ReadyPath, KeepAlive: ka, ReadHeaderTimeout: cfg.ReadHeaderTimeout})
		d.Add(srv, fast.Listener())
		go func() { fastDone <- fast.Serve(d.Draining(), d.Hold) }()
	} else {
		d.Add(srv, strict)
		fastDone <- nil
	}
	log.Info("drain exec: serving", "listen", ln.Addr().String(), "ready_path", cfg.ReadyPath, "fast_path", cfg.FastPath)

	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(context.WithoutCancel(ctx)) }()

	// The first SIGTERM/SIGINT or ctx's end starts the drain; a second
	// signal forces it (main cancels ctx on the same signal, so ctx never
	// counts as a second one). After the drain, they go to the application.
	started, signals := false, 0
	start := func(why string) {
		if !started {
			started = true
			log.Info("drain exec: draining", "cause", why)
			d.Stop()
			// WebSockets get their Close (1001) when the lame duck ends:
			// until then the pod may still get traffic, and a client
			// told to go away reconnects, through the Service, to a
			// replica that is staying.
			go func() {
				t := time.NewTicker(20 * time.Millisecond)
				defer t.Stop()
				for d.Phase() < drain.PhaseClosing {
					<-t.C
				}
				px.GoingAway()
			}()
		}
	}
	ctxDone, childDone := ctx.Done(), app.Done()
	var drainErr error
	for running := true; running; {
		select {
		case drainErr = <-runErr:
			running = false
		case <-ctxDone:
			ctxDone = nil
			start("context: " + context.Cause(ctx).Error())
		case <-childDone:
			// Nothing is left to drain: the application can answer
			// nothing more, and a lame duck would only serve 503s while
			// claiming readiness. Readiness fails now (above); the
			// requests in flight get their 502s; then the drain is
			// forced and drain exec exits with the application's status,
			// so the orchestrator restarts it at once.
			childDone = nil
			log.Warn("drain exec: the application exited; answering what is in flight, then exiting", "status", app.Exited())
			start("application " + app.Exited())
			go func() {
				for i := 0; px.Active() > 0 && i < 200; i++ {
					time.Sleep(5 * time.Millisecond) // bounded: 1 s
				}
				d.Stop() // the second Stop forces the drain
			}()
		case s := <-sigs:
			if s != syscall.SIGTERM && s != syscall.SIGINT {
				_ = app.Signal(s)
				continue
			}
			signals++
			if !started {
				start("signal: " + s.String())
			} else if signals >= 2 {
				log.Warn("drain exec: second signal, forcing the drain", "signal", s.String())
				d.Stop()
			}
		}
	}
	if fast != nil {
		_ = fast.Close() // nothing left to close unless Run failed early
		if err := <-fastDone; err != nil {
			log.Warn("drain exec: fast path", "err", err)
		}
		served, handed := fast.Counts()
		log.Info("drain exec: fast path", "served", served, "handed_to_net_http", handed)
	}
	if drainErr != nil {
		log.Warn("drain exec: the drain ended early", "err", drainErr, "retried", px.Retried(), "rejected", strict.Rejected())
	} else {
		log.Info("drain exec: public side drained", "retried", px.Retried(), "rejected", strict.Rejected())
	}

	// Now, and only now, the application may stop.
	px.CloseIdleConnections()
	if app.Exited() == "" {
		log.Info("drain exec: stopping the application", "signal", cfg.ChildSignalName, "grace", cfg.ChildGrace)
		stopped := make(chan struct{})
		go func() { app.Stop(cfg.ChildSignal, cfg.ChildGrace); close(stopped) }()
		for waiting := true; waiting; {
			select {
			case <-stopped:
				waiting = false
			case s := <-sigs:
				_ = app.Signal(s)
			}
		}
	}
	return childExit(app)
}

func childExit(c *child.Process) error {
	c.Cleanup(2 * time.Second)
	code := c.ExitCode()
	if code == 0 {
		return nil
	}
	return ExitError{Code: code, Status: c.Exited()}
}

// substitute replaces {port}, {addr} and {host} in args.
func substitute(args []string, port int) []string {
	p := strconv.Itoa(port)
	r := strings.NewReplacer("{port}", p, "{addr}", "127.0.0.1:"+p, "{host}", "127.0.0.1")
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

func withEnv(env []string, key, val string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+val)
}

// startTries bounds the application's starts when its port is taken.
const startTries = 3

// portInUse reports whether a process holds 127.0.0.1:port now (a listener,
// or a connection's local port).
func portInUse(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	l.Close()
	return false
}

// freePort returns a port free on 127.0.0.1 for the application to bind
// (a variable: tests hand out a taken one).
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// exposed reports whether the application's port accepts connections on a
// non-loopback address of this host.
func exposed(port int) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// readyHandler answers the public readiness path (Config.ReadyPath). It
// fails (503) when the application has exited, whatever the drain's
// readiness policy says about the lame duck; and when it is alive but
// does not answer within ReadyProbeTimeout (stopped, every worker stuck):
// a process that exists is not one that serves.
type readyHandler struct {
	cfg   Config
	app   *child.Process
	px    *proxy.Proxy
	d     *drain.Drainer
	ready http.Handler // the drain's readiness policy
	log   *slog.Logger
}

func (h readyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.app.Exited() != "" {
		notReady(w, "the application "+h.app.Exited())
		return
	}
	limit := h.cfg.ReadyProbeTimeout
	ctx, cancel := context.WithTimeoutCause(r.Context(), limit, errNoAnswer)
	defer cancel()
	if !h.cfg.TCPReady && h.d.Phase() == drain.PhaseServing {
		// The application's own readiness answer, within the limit.
		h.px.ServeHTTP(&readyWriter{ResponseWriter: w, ctx: ctx, h: h, path: r.URL.Path}, r.WithContext(ctx))
		return
	}
	// drain exec answers (the drain's policy); claiming readiness needs
	// an application that answers.
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	h.ready.ServeHTTP(rec, r)
	if rec.status == http.StatusOK {
		path := h.cfg.UpstreamReadyPath
		if !strings.HasPrefix(path, "/") {
			path = "/" // --tcp-ready: any answer will do
		}
		if err := h.px.Probe(ctx, path); err != nil {
			if errors.Is(err, errNoAnswer) {
				err = fmt.Errorf("no answer to GET %s within %v", path, limit)
			}
			h.log.Warn("drain exec: the application does not answer: not ready", "err", err)
			notReady(w, "the application does not answer ("+err.Error()+")")
			return
		}
	}
	for k, v := range rec.h {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body)
}

// notReady answers the readiness path with 503 and why.
func notReady(w http.ResponseWriter, why string) {
	w.Header().Set("Connection", "close")
	http.Error(w, "drain exec: "+why, http.StatusServiceUnavailable)
}

// readyWriter passes the application's answer to the readiness path on;
// when the proxy's answer is its bare 502 for a request whose time limit
// ran out (the application did not answer), it answers 503 and why.
type readyWriter struct {
	http.ResponseWriter
	ctx     context.Context
	h       readyHandler
	path    string
	timeout bool // the 503 is written: drop the rest
}

func (w *readyWriter) WriteHeader(code int) {
	if code == http.StatusBadGateway && context.Cause(w.ctx) == errNoAnswer {
		w.timeout = true
		why := fmt.Sprintf("the application does not answer (no answer to GET %s within %v)", w.path, w.h.cfg.ReadyProbeTimeout)
		w.h.log.Warn("drain exec: " + why + ": not ready")
		w.ResponseWriter.Header().Del("Content-Length")
		notReady(w.ResponseWriter, why)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *readyWriter) Write(b []byte) (int, error) {
	if w.timeout {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *readyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recorder keeps the drain's readiness answer until the probe decides.
type recorder struct {
	h      http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header  { return r.h }
func (r *recorder) WriteHeader(code int) { r.status = code }
func (r *recorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}
