package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drainhttp/drain"
	"github.com/drainhttp/drain/cmd/drain/internal/proxy"
)

const execUsage = `
usage: drain exec [flags] -- COMMAND [ARGS...]

Runs COMMAND behind a reverse proxy that drains without losing a request,
whatever language COMMAND is written in. drain exec listens on --listen and
starts COMMAND with a private address on 127.0.0.1: its port is in $PORT and
replaces every "{port}" in ARGS ("{addr}" becomes 127.0.0.1:PORT, "{host}"
127.0.0.1). Once COMMAND is ready (--upstream-ready-path answers 2xx or 3xx,
or a TCP connect succeeds with --tcp-ready) every request is forwarded to it.

On SIGTERM or SIGINT the public side drains like the drain library: --ready-path
answers 503 (at once, or once the lame duck ends: --ready), every response says
"Connection: close" during --lame-duck, then
the listener closes and idle keep-alive connections close per --idle. COMMAND
gets no signal while a request is in flight: only when the public side has
drained is it sent --child-signal, and SIGKILL after --child-grace. A second
SIGTERM forces the drain. SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTTIN
and SIGTTOU are forwarded to COMMAND. drain exec reaps every orphan of
COMMAND (it makes itself a child subreaper), so it can be a container's PID 1.

Exit status: COMMAND's (128+N when signal N ended it); 2 on bad usage or when
COMMAND could not start (not found, exited early, not ready in time, port in
use); 1 on other errors.

Flags:
`

// Defaults of drain exec.
const (
	defaultChildGrace        = 10 * time.Second
	defaultReadyTimeout      = 60 * time.Second
	defaultReadHeaderTimeout = 10 * time.Second
	defaultMaxHeaderBytes    = 64 << 10
	readyInterval            = 20 * time.Millisecond
)

// reapAll: drain exec is the only process that starts children in its
// process, so it reaps any (tests in this package that start an
// application run the binary, never exec in-process).
var reapAll = true

// childExitError carries the application's exit status out of runExec.
type childExitError struct {
	code   int
	status string
}

func (e childExitError) Error() string { return "the application " + e.status }

// ExitCode is the status drain exec exits with.
func (e childExitError) ExitCode() int { return e.code }

func runExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return execMain(ctx, args, stdin, stdout, stderr)
}

func execMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("exec", execUsage, stderr)
	defListen := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		defListen = ":" + p
	}
	listen := fs.String("listen", defListen, "public listen address (:$PORT when PORT is set)")
	readyPath := fs.String("ready-path", "/health", "public readiness path: answered by drain exec during the drain (503, when --ready says); while serving it goes to COMMAND (answered 200 by drain exec with --tcp-ready)")
	upReady := fs.String("upstream-ready-path", "/health", "COMMAND is ready when a GET of this path answers 2xx or 3xx")
	tcpReady := fs.Bool("tcp-ready", false, "COMMAND is ready when its port accepts a TCP connection")
	readyTimeout := fs.Duration("ready-timeout", defaultReadyTimeout, "give up when COMMAND is not ready after this long")
	childSig := fs.String("child-signal", "TERM", "signal sent to COMMAND once the public side has drained")
	childGrace := fs.Duration("child-grace", defaultChildGrace, "SIGKILL COMMAND's process group this long after --child-signal")
	trust := fs.Bool("trust-forwarded", false, "keep the client's X-Forwarded-For (appending to it), -Proto, -Host and Forwarded: only behind a proxy that sets them")
	lameDuck := fs.Duration("lame-duck", 0, "propagation delay (0: the library default, "+drain.DefaultKubernetesDelay.String()+" in Kubernetes, else none; negative: none)")
	readyFlag := fs.String("ready", drain.ReadyAuto.String(), "when the ready path turns 503 in a drain: auto (through-delay in Kubernetes, else until-drain), until-drain or through-delay (once the lame duck ends; keeps kube-proxy's fallback to serving terminating pods)")
	idle := fs.String("idle", drain.IdleKeepAlive.String(), "idle keep-alive connections during the drain: keepalive, one-more or immediate")
	keepAlive := fs.Duration("keepalive", 0, "keep-alive timeout advertised and enforced (0: "+drain.DefaultKeepAlive.String()+")")
	deadline := fs.Duration("deadline", 0, "cancel requests still running this long after the drain began (0: "+drain.DefaultDeadline.String()+")")
	forceAfter := fs.Duration("force-after", 0, "close every connection this long after --deadline (0: "+drain.DefaultForceAfter.String()+")")
	quiet := fs.Duration("quiet", 0, "end the lame duck after this long without a new connection (0: never)")
	rht := fs.Duration("read-header-timeout", defaultReadHeaderTimeout, "close a connection whose request headers take longer (slowloris)")
	maxHeader := fs.Int("max-header-bytes", defaultMaxHeaderBytes, "reject request headers larger than this with 431")
	fastPath := fs.Bool("fast-path", true, "serve plain HTTP/1.1 requests without net/http (false: every request through net/http)")
	q := fs.Bool("q", false, "log warnings only (default: one line per phase)")
	if err := parse(fs, args); err != nil {
		return err
	}
	command := fs.Args()
	if len(command) == 0 {
		fs.Usage()
		return usagef("no COMMAND given: drain exec [flags] -- COMMAND [ARGS...]")
	}
	var policy drain.IdlePolicy
	if policy.UnmarshalText([]byte(*idle)) != nil {
		return usagef("--idle %q: use keepalive, one-more or immediate", *idle)
	}
	var readyPolicy drain.ReadyPolicy
	if readyPolicy.UnmarshalText([]byte(*readyFlag)) != nil {
		return usagef("--ready %q: use auto, until-drain or through-delay", *readyFlag)
	}
	sig, ok := parseSignal(*childSig)
	if !ok {
		return usagef("--child-signal %q: not a signal name (TERM, INT, QUIT, ...)", *childSig)
	}
	switch {
	case *childGrace <= 0:
		return usagef("--child-grace %v: need a positive duration", *childGrace)
	case *readyTimeout <= 0:
		return usagef("--ready-timeout %v: need a positive duration", *readyTimeout)
	case !strings.HasPrefix(*readyPath, "/"):
		return usagef("--ready-path %q: need a path starting with /", *readyPath)
	case !*tcpReady && !strings.HasPrefix(*upReady, "/"):
		return usagef("--upstream-ready-path %q: need a path starting with /", *upReady)
	case *maxHeader <= 0:
		return usagef("--max-header-bytes %d: need a positive size", *maxHeader)
	}
	path, err := osexec.LookPath(command[0])
	if err != nil {
		return usagef("COMMAND %q: %v", command[0], err)
	}

	level := slog.LevelInfo
	if *q {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("listen on %s: %v (is another server on that port? pick one with --listen or $PORT)", *listen, err)
	}
	strict := proxy.Listener(ln, log)
	defer strict.Close()
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("finding a free port for the application: %w", err)
	}
	upstream := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	files, closeFiles, err := childFiles(stdin, stdout, stderr)
	if err != nil {
		return err
	}
	defer closeFiles()
	// Signals: ours for the whole run, so none ever ends drain exec.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGTERM, syscall.SIGINT}, forwarded...)...)
	defer signal.Stop(sigs)

	child, err := proxy.StartChild(proxy.ChildConfig{
		Path:    path,
		Args:    substitute(command, port),
		Env:     withEnv(os.Environ(), "PORT", strconv.Itoa(port)),
		Files:   files,
		ReapAll: reapAll,
		Log:     log,
	})
	if err != nil {
		return usagef("starting %s: %v", command[0], err)
	}
	defer child.Cleanup(2 * time.Second)
	log.Info("drain exec: started the application", "pid", child.Pid(), "upstream", upstream, "command", strings.Join(command, " "))

	// Wait until ready, forwarding signals; SIGTERM or SIGINT aborts.
	readyPathUp := *upReady
	if *tcpReady {
		readyPathUp = ""
	}
	readyCtx, cancelReady := context.WithTimeoutCause(ctx, *readyTimeout, fmt.Errorf("not ready after %v", *readyTimeout))
	readyErr := make(chan error, 1)
	go func() { readyErr <- child.WaitReady(readyCtx, upstream, readyPathUp, readyInterval) }()
	for waiting := true; waiting; {
		select {
		case err = <-readyErr:
			waiting = false
		case s := <-sigs:
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				cancelReady()
				break
			}
			_ = child.Signal(s)
		}
	}
	cancelReady()
	if err != nil {
		child.Stop(sig, *childGrace)
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return childExit(child) // stopped before it was ready
		}
		hint := ""
		if !*tcpReady {
			hint = fmt.Sprintf(" (does it listen on $PORT or {port} and answer GET %s? see --upstream-ready-path, --tcp-ready)", *upReady)
		} else {
			hint = " (does it listen on $PORT or {port}?)"
		}
		return usagef("%s: %v%s", command[0], err, hint)
	}
	if exposed(port) {
		log.Warn("drain exec: the application listens on more than loopback; bind it to 127.0.0.1 ({host} or {addr} in ARGS) so only drain exec reaches it", "port", port)
	}

	px := proxy.New(proxy.Config{Upstream: upstream, TrustForwarded: *trust, Down: child.Exited, Log: log})
	d := drain.New(drain.Options{
		Delay:      *lameDuck,
		Ready:      readyPolicy,
		Quiet:      *quiet,
		Idle:       policy,
		KeepAlive:  *keepAlive,
		Deadline:   *deadline,
		ForceAfter: *forceAfter,
		Signals:    []os.Signal{}, // counted here: see below
		Logger:     log,
	})
	ready := d.Ready()
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == *readyPath && child.Exited() != "" {
			// A dead application is not ready, whatever the drain's
			// readiness policy says about the lame duck.
			w.Header().Set("Connection", "close")
			http.Error(w, "drain exec: the application "+child.Exited(), http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == *readyPath && (*tcpReady || d.Phase() != drain.PhaseServing) {
			ready.ServeHTTP(w, r)
			return
		}
		px.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: *rht,
		MaxHeaderBytes:    *maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	var fast *proxy.Fast
	fastDone := make(chan error, 1)
	if *fastPath {
		ka := *keepAlive
		if ka == 0 {
			ka = drain.DefaultKeepAlive
		}
		fast = px.NewFast(strict, proxy.FastConfig{ReadyPath: *readyPath, KeepAlive: ka, ReadHeaderTimeout: *rht})
		d.Add(srv, fast.Listener())
		go func() { fastDone <- fast.Serve(d.Draining(), d.Hold) }()
	} else {
		d.Add(srv, strict)
		fastDone <- nil
	}
	log.Info("drain exec: serving", "listen", ln.Addr().String(), "ready_path", *readyPath, "fast_path", *fastPath)

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
		}
	}
	ctxDone, childDone := ctx.Done(), child.Done()
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
			log.Warn("drain exec: the application exited; answering what is in flight, then exiting", "status", child.Exited())
			start("application " + child.Exited())
			go func() {
				for i := 0; px.Active() > 0 && i < 200; i++ {
					time.Sleep(5 * time.Millisecond) // bounded: 1 s
				}
				d.Stop() // the second Stop forces the drain
			}()
		case s := <-sigs:
			if s != syscall.SIGTERM && s != syscall.SIGINT {
				_ = child.Signal(s)
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
	if child.Exited() == "" {
		log.Info("drain exec: stopping the application", "signal", *childSig, "grace", *childGrace)
		stopped := make(chan struct{})
		go func() { child.Stop(sig, *childGrace); close(stopped) }()
		for waiting := true; waiting; {
			select {
			case <-stopped:
				waiting = false
			case s := <-sigs:
				_ = child.Signal(s)
			}
		}
	}
	return childExit(child)
}

func childExit(c *proxy.Child) error {
	c.Cleanup(2 * time.Second)
	code := c.ExitCode()
	if code == 0 {
		return nil
	}
	return childExitError{code: code, status: c.Exited()}
}

// childFiles returns the application's stdin, stdout and stderr: ours when
// they are files, else pipes copied to the writers.
func childFiles(stdin io.Reader, stdout, stderr io.Writer) ([]*os.File, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	in, ok := stdin.(*os.File)
	if !ok {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, nil, err
		}
		in = f
		closers = append(closers, func() { f.Close() })
	}
	files := []*os.File{in}
	for _, w := range []io.Writer{stdout, stderr} {
		if f, ok := w.(*os.File); ok {
			files = append(files, f)
			continue
		}
		r, pw, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		done := make(chan struct{})
		go func() { _, _ = io.Copy(w, r); close(done) }()
		files = append(files, pw)
		closers = append(closers, func() {
			pw.Close()
			select {
			case <-done:
			case <-time.After(time.Second): // an orphan still holds it
			}
			r.Close()
		})
	}
	return files, closeAll, nil
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

// freePort returns a port free on 127.0.0.1 for the application to bind.
func freePort() (int, error) {
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

func parseSignal(s string) (syscall.Signal, bool) {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	sig, ok := signalsByName[s]
	return sig, ok
}
