//go:build unix

package router

import "syscall"

// signalGroup sends SIGTERM, or SIGKILL with kill, to the process group pgid.
func signalGroup(pgid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-pgid, sig)
}
