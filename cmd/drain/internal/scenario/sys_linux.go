package scenario

import "syscall"

// duringSysProcAttr puts the --during command in a process group of its own
// (killGroup ends it with whatever it started) that the kernel kills if
// drain dies first.
func duringSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
