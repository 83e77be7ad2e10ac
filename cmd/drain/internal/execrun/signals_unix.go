//go:build unix

package execrun

import (
	"os"
	"syscall"
)

// forwarded are the signals drain exec passes to the application as they are.
var forwarded = []os.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGWINCH, syscall.SIGTTIN, syscall.SIGTTOU}
