// Package child supervises the processes the tool runs beside itself:
// drain exec's COMMAND, drain test's replicas, the router in front of
// them (nginx, HAProxy, Caddy) and drain test's --during command. It
// starts a process in its own process group from one OS thread (so
// Pdeathsig means "drain died", see spawn.go), copies its output, waits
// for it to be ready (one rule, [Ready]), signals, stops and reaps it
// (optionally every orphan too, as a container's PID 1 must), and names
// signals and exit statuses. Tool calls (ip, nft, kubectl) run
// through os/exec. Starting a process needs Unix signals: on Windows
// [Start] and [StartContext] fail with [ErrNoSignals].
package child

import (
	"errors"
	"io"
	"log/slog"
	"time"
)

// Config describes the application process.
type Config struct {
	// Path and Args are the program and its arguments, Args[0] included;
	// an empty Path is looked up from Args[0] as exec.Command does.
	Path string
	Args []string
	// Env is the environment (with PORT set by the caller; nil: this
	// process's).
	Env []string
	// Stdin is the child's standard input if it is an *os.File; anything
	// else (nil included) gives it /dev/null.
	Stdin io.Reader
	// Stdout and Stderr receive the child's output. An *os.File is given
	// to the child as is; any other writer gets it through a pipe that
	// this process copies (one pipe when both are the same writer, so at
	// most one goroutine writes to it at a time). nil or io.Discard:
	// /dev/null. [Process.Done] waits until the output is copied to its
	// end, at most OutputWait after the child is reaped: a process it
	// started may hold the pipe open, and the pipe is closed then.
	Stdout, Stderr io.Writer

	// OnExit, if set, is called once the child has exited and before it
	// is reaped (WaitExit; Linux and the BSDs): until OnExit returns, its
	// pid and process group id cannot be reused, so a caller that stops
	// signalling it there never signals a stranger. Not with ReapAll.
	OnExit func()
	// KillGroupAtExit kills the rest of the child's process group when
	// the child exits, before it is reaped (as a pod's processes end with
	// its main one). Not with ReapAll.
	KillGroupAtExit bool

	// ReapAll makes this process the reaper of every descendant: it becomes
	// a child subreaper (Linux) and one goroutine waits for any child
	// (wait4(-1)), so the application's orphans are reaped too, also when
	// this process is PID 1 in a container. Only a process that starts no
	// other children may set it: the loop would steal their exit statuses.
	ReapAll bool

	Log *slog.Logger
}

// OutputWait bounds how long [Process.Done] waits, once the child is
// reaped, for the end of its output through a pipe (Config.Stdout): a
// process the child started may keep the pipe open. It is os/exec's
// Cmd.WaitDelay as child used it before copying the output itself.
const OutputWait = time.Second

// Ready reports whether an HTTP readiness probe answered with status
// passes: any 200-399, Kubernetes' rule for an httpGet probe, used for
// drain exec's application and for drain test's replicas alike.
func Ready(status int) bool { return status >= 200 && status < 400 }

// ErrNotReady is returned by [Process.WaitReady].
var ErrNotReady = errors.New("the application did not become ready")

// ErrNoSignals: drain exec forwards SIGTERM to the application and runs it
// in a process group of its own; Windows has neither.
var ErrNoSignals = errors.New("drain exec: the application is stopped with SIGTERM, which Windows does not have; run drain exec on Linux or macOS (or in WSL2)")
