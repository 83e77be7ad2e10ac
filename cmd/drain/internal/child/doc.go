// Package child supervises an application process: drain exec's
// COMMAND and drain test's replicas. It starts a process in its own
// process group, waits for it to be ready (one rule, [Ready]), signals,
// stops and reaps it (optionally every orphan too, as a container's PID 1
// must), and names signals and exit statuses. Starting a process needs
// Unix signals: on Windows [Start] fails with [ErrNoSignals].
package child

import (
	"errors"
	"io"
	"log/slog"
	"os"
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
	// Files are the child's stdin, stdout and stderr (and more files from
	// fd 3 on); a nil entry among the first three is /dev/null.
	Files []*os.File
	// Stdout and Stderr receive the child's output when Files is nil,
	// through pipes (nil: /dev/null).
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

// Ready reports whether an HTTP readiness probe answered with status
// passes: any 200-399, Kubernetes' rule for an httpGet probe, used for
// drain exec's application and for drain test's replicas alike.
func Ready(status int) bool { return status >= 200 && status < 400 }

// ErrNotReady is returned by [Process.WaitReady].
var ErrNotReady = errors.New("the application did not become ready")

// ErrNoSignals: drain exec forwards SIGTERM to the application and runs it
// in a process group of its own; Windows has neither.
var ErrNoSignals = errors.New("drain exec: the application is stopped with SIGTERM, which Windows does not have; run drain exec on Linux or macOS (or in WSL2)")
