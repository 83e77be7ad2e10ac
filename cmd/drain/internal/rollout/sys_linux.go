package rollout

import (
	"syscall"
	"unsafe"
)

// replicaSysProcAttr puts a replica in a process group of its own (killGroup
// kills it with whatever it started) and has the kernel SIGKILL it if drain
// dies first (Pdeathsig), so no replica outlives a crashed run.
func replicaSysProcAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}, nil
}

// waitExit blocks until the process pid has exited, without reaping it
// (waitid with WNOWAIT), so its pid and process group id cannot be reused
// while the group is being killed.
func waitExit(pid int) error {
	const (
		pPID    = 1
		wEXITED = 0x4
		wNOWAIT = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wEXITED|wNOWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}
