package rollout

import (
	"errors"
	"syscall"
)

// errNoSIGTERM: Windows has no SIGTERM to send a replica (a console
// process gets CTRL_BREAK, which Go reports as os.Interrupt, not the
// SIGTERM Kubernetes sends), so the rollout cannot shut replicas down the
// way an orchestrator does. The model network itself needs nothing
// Linux-specific; the replicas' signals do.
var errNoSIGTERM = errors.New("rollout: replicas are stopped with SIGTERM, which Windows does not have; run drain test on Linux or macOS (or in WSL2)")

// canStart: no replica can be started here (child.Start would fail too,
// with drain exec's words).
func canStart() error { return errNoSIGTERM }

func listenBacklog0(fd uintptr) error { return syscall.Listen(syscall.Handle(fd), 0) }
