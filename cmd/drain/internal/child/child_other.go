//go:build unix && !linux

package child

import (
	"errors"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func becomeSubreaper() error { return errors.New("child subreaper: Linux only") }

func killOrphans() {}

// Children is Linux-only (/proc); here it returns nil.
func Children() []int { return nil }
