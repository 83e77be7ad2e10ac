//go:build unix && !linux

package scenario

import "syscall"

// duringSysProcAttr puts the --during command in a process group of its own
// (killGroup ends it with whatever it started); only Linux has Pdeathsig.
func duringSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
