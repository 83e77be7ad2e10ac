package rollout

import (
	"syscall"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
)

// replicaSysProcAttr puts a replica in a process group of its own (killGroup
// kills it with whatever it started) and has the kernel SIGKILL it if drain
// dies first (Pdeathsig), so no replica outlives a crashed run.
func replicaSysProcAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}, nil
}

// waitExit blocks until the process pid has exited, without reaping it, so
// its pid and process group id cannot be reused while the group is being
// killed (child.WaitExit: unix.Waitid with WNOWAIT).
func waitExit(pid int) error { return child.WaitExit(pid) }
