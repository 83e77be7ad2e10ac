//go:build unix

package rollout

import "syscall"

func init() {
	signalNames[syscall.SIGUSR1] = "SIGUSR1"
	signalNames[syscall.SIGUSR2] = "SIGUSR2"
}

// sendSIGTERM asks the replica pid to shut down.
func sendSIGTERM(pid int) { syscall.Kill(pid, syscall.SIGTERM) }

// killGroup sends SIGKILL to the process group pgid.
func killGroup(pgid int) {
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// listenBacklog0 sets the listening socket fd's accept queue to length 0
// (on a listening socket, listen again only sets the backlog).
func listenBacklog0(fd uintptr) error { return syscall.Listen(int(fd), 0) }
