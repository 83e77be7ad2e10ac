package proxy

import (
	"log/slog"
	"os"
)

// ChildConfig describes the application process.
type ChildConfig struct {
	// Path and Args are the program (resolved, e.g. by exec.LookPath) and
	// its arguments, Args[0] included.
	Path string
	Args []string
	// Env is the environment (with PORT set by the caller).
	Env []string
	// Files are the child's stdin, stdout and stderr.
	Files []*os.File

	// ReapAll makes this process the reaper of every descendant: it becomes
	// a child subreaper (Linux) and one goroutine waits for any child
	// (wait4(-1)), so the application's orphans are reaped too, also when
	// this process is PID 1 in a container. Only a process that starts no
	// other children may set it: the loop would steal their exit statuses.
	ReapAll bool

	Log *slog.Logger
}
