package main

import (
	"context"
	"errors"
	"io"
	"os"
	osexec "os/exec"
	"strings"
	"time"

	"github.com/drainhttp/drain"
	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/execrun"
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
)

// reapAll: drain exec is the only process that starts children in its
// process, so it reaps any (tests in this package that start an
// application run the binary, never exec in-process).
var reapAll = true

// runExec is drain exec's command line: flags to an execrun.Config.
func runExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("exec", execUsage, stderr)
	defListen := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		defListen = ":" + p
	}
	listen := fs.String("listen", defListen, "public listen address (:$PORT when PORT is set)")
	readyPath := fs.String("ready-path", "/health", "public readiness path: answered by drain exec during the drain (503, when --ready says); while serving it goes to COMMAND (answered 200 by drain exec with --tcp-ready); 503 whenever COMMAND has exited or does not answer within --ready-probe-timeout")
	upReady := fs.String("upstream-ready-path", "/health", "COMMAND is ready when a GET of this path answers 200-399 (Kubernetes' rule)")
	tcpReady := fs.Bool("tcp-ready", false, "COMMAND is ready when its port accepts a TCP connection")
	readyTimeout := fs.Duration("ready-timeout", defaultReadyTimeout, "give up when COMMAND is not ready after this long")
	probeTimeout := fs.Duration("ready-probe-timeout", execrun.DefaultReadyProbeTimeout, "the ready path answers 503 when COMMAND does not answer it (or, where drain exec answers it, a GET of --upstream-ready-path) within this long")
	childSig := fs.String("child-signal", "TERM", "signal sent to COMMAND once the public side has drained")
	childGrace := fs.Duration("child-grace", defaultChildGrace, "SIGKILL COMMAND's process group this long after --child-signal")
	trust := fs.Bool("trust-forwarded", false, "keep the client's X-Forwarded-For (appending to it), -Proto, -Host and Forwarded: only behind a proxy that sets them")
	lameDuck := fs.Duration("lame-duck", 0, "propagation delay (0: the library default, "+drain.DefaultKubernetesDelay.String()+" in Kubernetes, else none; negative: none)")
	readyFlag := fs.String("ready", drain.ReadyAuto.String(), "when the ready path turns 503 in a drain: auto (through-delay in Kubernetes, else until-drain), until-drain or through-delay (once the lame duck ends; keeps kube-proxy's fallback to serving terminating pods)")
	idle := fs.String("idle", drain.IdleKeepAlive.String(), "idle keep-alive connections during the drain: keepalive, one-more or immediate")
	keepAlive := fs.Duration("keepalive", 0, "keep-alive timeout advertised to clients and used by --idle=keepalive during the drain; never enforced while serving (0: "+drain.DefaultKeepAlive.String()+")")
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
	sig, ok := child.ParseSignal(*childSig)
	if !ok {
		return usagef("--child-signal %q: not a signal name (TERM, INT, QUIT, ...)", *childSig)
	}
	switch {
	case *childGrace <= 0:
		return usagef("--child-grace %v: need a positive duration", *childGrace)
	case *readyTimeout <= 0:
		return usagef("--ready-timeout %v: need a positive duration", *readyTimeout)
	case *probeTimeout <= 0:
		return usagef("--ready-probe-timeout %v: need a positive duration", *probeTimeout)
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

	err = execrun.Run(ctx, execrun.Config{
		Path:              path,
		Command:           command,
		Listen:            *listen,
		ReadyPath:         *readyPath,
		UpstreamReadyPath: *upReady,
		TCPReady:          *tcpReady,
		ReadyTimeout:      *readyTimeout,
		ReadyProbeTimeout: *probeTimeout,
		ChildSignal:       sig,
		ChildSignalName:   *childSig,
		ChildGrace:        *childGrace,
		TrustForwarded:    *trust,
		Drain: drain.Options{
			Delay:      *lameDuck,
			Ready:      readyPolicy,
			Quiet:      *quiet,
			Idle:       policy,
			KeepAlive:  *keepAlive,
			Deadline:   *deadline,
			ForceAfter: *forceAfter,
		},
		ReadHeaderTimeout: *rht,
		MaxHeaderBytes:    *maxHeader,
		FastPath:          *fastPath,
		ReapAll:           reapAll,
		Quiet:             *q,
		Stdin:             stdin,
		Stdout:            stdout,
		Stderr:            stderr,
	})
	if errors.Is(err, execrun.ErrStart) {
		return usageError{err}
	}
	return err
}
