package rollout

import (
	"errors"
	"strconv"
	"syscall"
)

// errNoSIGTERM: Windows has no SIGTERM to send a replica (a console
// process gets CTRL_BREAK, which Go reports as os.Interrupt, not the
// SIGTERM Kubernetes sends), so the rollout cannot shut replicas down the
// way an orchestrator does. The model network itself needs nothing
// Linux-specific; the replicas' signals do.
var errNoSIGTERM = errors.New("rollout: replicas are stopped with SIGTERM, which Windows does not have; run drain test on Linux or macOS (or in WSL2)")

func replicaSysProcAttr() (*syscall.SysProcAttr, error) { return nil, errNoSIGTERM }

func waitExit(int) error { return errNoSIGTERM }

func sendSIGTERM(int) {}

func killGroup(int) {}

func listenBacklog0(fd uintptr) error { return syscall.Listen(syscall.Handle(fd), 0) }

// signalName: Windows exit statuses carry no signal.
func signalName(s syscall.Signal) string { return "signal " + strconv.Itoa(int(s)) }
