//go:build unix && !linux

package router

import "syscall"

// routerSysProcAttr: the router's own process group; only Linux has
// Pdeathsig.
func routerSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
