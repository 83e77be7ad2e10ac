package router

import "syscall"

// routerSysProcAttr: the router's own process group (signalGroup ends its
// workers too), killed with drain (Pdeathsig).
func routerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
