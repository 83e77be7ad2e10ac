package proxy

import (
	"context"
	"errors"
	"os"
	"time"
)

// ErrNoSignals: drain exec forwards SIGTERM to the application and runs it
// in a process group of its own; Windows has neither. The proxy itself is
// portable; the child supervision is not.
var ErrNoSignals = errors.New("drain exec: the application is stopped with SIGTERM, which Windows does not have; run drain exec on Linux or macOS (or in WSL2)")

// Child is the running application; on Windows none can be started.
type Child struct{}

// StartChild returns ErrNoSignals.
func StartChild(ChildConfig) (*Child, error) { return nil, ErrNoSignals }

// Pid returns 0.
func (c *Child) Pid() int { return 0 }

// Done is closed: there is no application.
func (c *Child) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Exited describes the missing application.
func (c *Child) Exited() string { return ErrNoSignals.Error() }

// ExitCode returns 1.
func (c *Child) ExitCode() int { return 1 }

// Orphans returns 0.
func (c *Child) Orphans() int { return 0 }

// Signal returns ErrNoSignals.
func (c *Child) Signal(os.Signal) error { return ErrNoSignals }

// Stop does nothing.
func (c *Child) Stop(os.Signal, time.Duration) {}

// Cleanup does nothing.
func (c *Child) Cleanup(time.Duration) {}

// WaitReady returns ErrNoSignals.
func (c *Child) WaitReady(context.Context, string, string, time.Duration) error {
	return ErrNoSignals
}
