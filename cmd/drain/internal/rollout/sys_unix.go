//go:build unix

package rollout

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalName is the signal's name as the kernel's headers spell it
// ("SIGKILL"), or "signal N" for one without a name.
func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
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
