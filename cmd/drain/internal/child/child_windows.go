package child

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is the running application; on Windows none can be started.
type Process struct{}

// Start returns ErrNoSignals.
func Start(Config) (*Process, error) { return nil, ErrNoSignals }

// StartContext returns ErrNoSignals.
func StartContext(context.Context, Config) (*Process, error) { return nil, ErrNoSignals }

// Wait returns ErrNoSignals.
func (c *Process) Wait() error { return ErrNoSignals }

// SignalGroup returns false.
func (c *Process) SignalGroup(syscall.Signal) bool { return false }

// Pid returns 0.
func (c *Process) Pid() int { return 0 }

// Done is closed: there is no application.
func (c *Process) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Exited describes the missing application.
func (c *Process) Exited() string { return ErrNoSignals.Error() }

// ExitCode returns 1.
func (c *Process) ExitCode() int { return 1 }

// Orphans returns 0.
func (c *Process) Orphans() int { return 0 }

// Signal returns ErrNoSignals.
func (c *Process) Signal(os.Signal) error { return ErrNoSignals }

// Stop does nothing.
func (c *Process) Stop(os.Signal, time.Duration) {}

// Cleanup does nothing.
func (c *Process) Cleanup(time.Duration) {}

// State returns nil.
func (c *Process) State() *os.ProcessState { return nil }

// KillGroup returns false.
func (c *Process) KillGroup() bool { return false }

// Poll returns ErrNoSignals.
func (c *Process) Poll(context.Context, *Probe, string, time.Duration) error { return ErrNoSignals }

// WaitReady returns ErrNoSignals.
func (c *Process) WaitReady(context.Context, string, string, time.Duration) error {
	return ErrNoSignals
}

// Children returns nil: no child can be started here.
func Children() []int { return nil }

// WaitExit is not available on Windows.
func WaitExit(int) error { return errors.ErrUnsupported }

// ParseSignal parses the few signal names Go defines on Windows, or a
// number.
func ParseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	m := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT}
	sig, ok := m[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	return sig, ok
}

// SignalName returns the signal's description (Windows has no table of
// names).
func SignalName(sig syscall.Signal) string { return sig.String() }
