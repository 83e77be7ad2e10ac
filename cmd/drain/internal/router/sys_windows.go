package router

import (
	"os"
	"syscall"
)

// routerSysProcAttr: Windows has no process groups to signal.
func routerSysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the process pgid (Windows has no SIGTERM: both kill).
func signalGroup(pgid int, _ bool) {
	if p, err := os.FindProcess(pgid); err == nil {
		p.Kill()
	}
}
