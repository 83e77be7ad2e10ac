package scenario

import (
	"os"
	"syscall"
)

// duringSysProcAttr: Windows has no process groups to signal.
func duringSysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the process pid (Windows: not its children).
func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
