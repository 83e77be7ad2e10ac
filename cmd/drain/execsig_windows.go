package main

import (
	"os"
	"syscall"
)

// forwarded: Windows has no signals to forward (drain exec cannot start an
// application there: proxy.ErrNoSignals).
var forwarded = []os.Signal{}

// signalsByName are the names parseSignal accepts, without "SIG".
var signalsByName = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP,
	"KILL": syscall.SIGKILL,
}
