//go:build unix

package child

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// Process is the running application. It runs in its own process group (so
// a terminal's Ctrl-C reaches only the drain), and gets SIGKILL if this
// process dies (Linux). Its methods are safe for concurrent use.
type Process struct {
	cfg  Config
	proc *os.Process
	pid  int
	log  *slog.Logger

	done    chan struct{} // closed once reaped
	mu      sync.Mutex
	status  syscall.WaitStatus
	reaper  chan struct{} // ReapAll: closed when no child is left
	orphans int           // ReapAll: orphans reaped
}

// Start starts the application.
func Start(cfg Config) (*Process, error) {
	c := &Process{cfg: cfg, log: cfg.Log, done: make(chan struct{})}
	if c.log == nil {
		c.log = slog.Default()
	}
	if cfg.ReapAll {
		if err := becomeSubreaper(); err != nil {
			c.log.Warn("drain exec: cannot become child subreaper; orphans of the application are reaped only when running as PID 1", "err", err)
		}
	}
	proc, err := os.StartProcess(cfg.Path, cfg.Args, &os.ProcAttr{
		Env:   cfg.Env,
		Files: cfg.Files,
		Sys:   sysProcAttr(),
	})
	if err != nil {
		return nil, err
	}
	c.proc, c.pid = proc, proc.Pid
	if cfg.ReapAll {
		c.reaper = make(chan struct{})
		go c.reapAll()
	} else {
		go func() {
			st, err := proc.Wait()
			ws := syscall.WaitStatus(0)
			if err == nil {
				ws, _ = st.Sys().(syscall.WaitStatus)
			}
			c.finish(ws)
		}()
	}
	return c, nil
}

// reapAll is the only waiter of this process: it reaps the application and
// any orphan reparented here until no child is left.
func (c *Process) reapAll() {
	defer close(c.reaper)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: no child, so no descendant, is left
			select {
			case <-c.done:
			default:
				c.finish(syscall.WaitStatus(0xff00)) // cannot happen: lost our own child
			}
			return
		}
		if pid == c.pid {
			c.finish(ws)
			continue
		}
		c.mu.Lock()
		c.orphans++
		c.mu.Unlock()
		c.log.Debug("drain exec: reaped an orphan", "pid", pid, "status", describe(ws))
	}
}

func (c *Process) finish(ws syscall.WaitStatus) {
	c.mu.Lock()
	c.status = ws
	c.mu.Unlock()
	close(c.done)
}

// Pid is the application's process id (and process group id).
func (c *Process) Pid() int { return c.pid }

// Done is closed once the application has exited and been reaped.
func (c *Process) Done() <-chan struct{} { return c.done }

// Exited reports the exit status if the application has exited: "exited
// with status N" or "was killed by signal S"; "" while it runs.
func (c *Process) Exited() string {
	select {
	case <-c.done:
	default:
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return describe(c.status)
}

// ExitCode is the exit status after Done: the process's own, or 128 plus the
// signal number when a signal ended it (the shell's convention).
func (c *Process) ExitCode() int {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return exitCode(c.status)
}

// Orphans reports how many orphaned descendants were reaped (ReapAll).
func (c *Process) Orphans() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orphans
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "was killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}

// Signal sends sig to the application process (not its group: a server
// that forwards signals to its workers would otherwise send them twice).
// It is a no-op once the application has exited.
func (c *Process) Signal(sig os.Signal) error {
	err := c.proc.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Stop sends sig and waits up to grace for the application to exit, then
// kills its whole process group. It returns once the application has been
// reaped.
func (c *Process) Stop(sig os.Signal, grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	if err := c.Signal(sig); err != nil {
		c.log.Warn("drain exec: signalling the application", "signal", sig, "err", err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	c.log.Warn("drain exec: the application did not exit in time; killing it", "grace", grace)
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	<-c.done
}

// Cleanup kills what is left of the application once it has exited: its
// process group, and with ReapAll every orphan reparented here; then waits
// (at most timeout) until they are reaped. Call it after Done.
func (c *Process) Cleanup(timeout time.Duration) {
	<-c.done
	_ = syscall.Kill(-c.pid, syscall.SIGKILL) // ESRCH when the group is empty
	if c.reaper == nil {
		return
	}
	killOrphans()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.reaper:
	case <-t.C:
		c.log.Warn("drain exec: orphans of the application are still running", "after", timeout)
	}
}

// WaitReady polls the application every interval until it is ready: an
// HTTP GET of path answered with a status [Ready] accepts, or, when path is "", a successful TCP connect. It fails when ctx
// ends or the application exits first.
func (c *Process) WaitReady(ctx context.Context, addr, path string, interval time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		Timeout:   time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := "no attempt yet"
	for {
		if path == "" {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return nil
			}
			last = err.Error()
		} else {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
			res, err := client.Do(req)
			if err == nil {
				res.Body.Close()
				if Ready(res.StatusCode) {
					return nil
				}
				last = "GET " + path + ": " + res.Status
			} else {
				last = err.Error()
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%w: it %s before it was ready", ErrNotReady, c.Exited())
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last attempt: %s)", ErrNotReady, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}
