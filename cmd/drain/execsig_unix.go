//go:build unix

package main

import (
	"os"
	"syscall"
)

// forwarded are the signals drain exec passes to the application as they are.
var forwarded = []os.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGWINCH, syscall.SIGTTIN, syscall.SIGTTOU}

// signalsByName are the names parseSignal accepts, without "SIG".
var signalsByName = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "KILL": syscall.SIGKILL, "WINCH": syscall.SIGWINCH,
}
