//go:build unix

package child

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is the running application. It runs in its own process group (so
// a terminal's Ctrl-C reaches only the drain), and gets SIGKILL if this
// process dies (Linux). Its methods are safe for concurrent use.
type Process struct {
	cfg  Config
	cmd  *exec.Cmd
	proc *os.Process
	pid  int
	log  *slog.Logger

	io      *stdio
	done    chan struct{} // closed once reaped and its output copied
	mu      sync.Mutex
	exited  bool // the leader exited (seen by WaitExit): its group is not signalled any more
	status  syscall.WaitStatus
	ctxErr  error         // StartContext: ctx's error, when its end killed the process
	reaper  chan struct{} // ReapAll: closed when no child is left
	orphans int           // ReapAll: orphans reaped
}

// Start starts the application.
func Start(cfg Config) (*Process, error) {
	return start(cfg)
}

// StartContext is Start bound to ctx, as exec.CommandContext: when ctx
// ends before the process has exited, its process group gets SIGKILL (the
// group, so what it started ends too), and [Process.Wait] reports ctx's
// error if the process still exited with status 0. It fails at once when
// ctx has ended already.
func StartContext(ctx context.Context, cfg Config) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := start(cfg)
	if err != nil || ctx.Done() == nil {
		return c, err
	}
	go func() {
		select {
		case <-ctx.Done():
			if c.KillGroup() {
				c.mu.Lock()
				c.ctxErr = ctx.Err()
				c.mu.Unlock()
			}
		case <-c.done:
		}
	}()
	return c, nil
}

func start(cfg Config) (*Process, error) {
	c := &Process{cfg: cfg, log: cfg.Log, done: make(chan struct{})}
	if c.log == nil {
		c.log = slog.Default()
	}
	if len(cfg.Args) == 0 {
		return nil, errors.New("child: no command (Config.Args is empty)")
	}
	path := cfg.Path
	if path == "" {
		p, err := exec.LookPath(cfg.Args[0])
		if err != nil {
			return nil, err
		}
		path = p
	}
	if cfg.ReapAll {
		if err := becomeSubreaper(); err != nil {
			c.log.Warn("drain exec: cannot become child subreaper; orphans of the application are reaped only when running as PID 1", "err", err)
		}
	}
	std, err := openStdio(cfg)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: cfg.Args, Env: cfg.Env, SysProcAttr: sysProcAttr()}
	// Only files: os/exec copies nothing, whoever reaps the child.
	if f := std.files[0]; f != nil {
		cmd.Stdin = f
	}
	if f := std.files[1]; f != nil {
		cmd.Stdout = f
	}
	if f := std.files[2]; f != nil {
		cmd.Stderr = f
	}
	if err := startCmd(cmd); err != nil {
		release()
		std.abort()
		return nil, err
	}
	std.started()
	c.io, c.cmd, c.proc, c.pid = std, cmd, cmd.Process, cmd.Process.Pid
	if cfg.ReapAll {
		c.reaper = make(chan struct{})
		go c.reapAll()
	} else {
		go c.wait()
	}
	return c, nil
}

// wait is the application's only waiter (without ReapAll). With OnExit or
// KillGroupAtExit it first waits for the exit without reaping, so that
// OnExit and the group kill happen while the pid and process group id are
// still the application's; then it reaps.
func (c *Process) wait() {
	early := (c.cfg.OnExit != nil || c.cfg.KillGroupAtExit) && WaitExit(c.pid) == nil
	if early {
		c.exit(c.cfg.KillGroupAtExit)
	}
	err := c.cmd.Wait()
	release()
	if !early {
		c.exit(false) // reaped: its group id may be another's now
	}
	ws := syscall.WaitStatus(0)
	if st := c.cmd.ProcessState; st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	} else if err != nil {
		c.log.Warn("drain exec: waiting for the application", "err", err)
	}
	c.io.wait()
	c.finish(ws)
}

// exit records that the leader exited (KillGroup does nothing from now
// on), runs OnExit and, with killGroup, kills the rest of the group.
func (c *Process) exit(killGroup bool) {
	c.mu.Lock()
	c.exited = true
	c.mu.Unlock()
	if c.cfg.OnExit != nil {
		c.cfg.OnExit()
	}
	if killGroup {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL) // ESRCH when the group is empty
	}
}

// reapAll is the only waiter of this process: it reaps the application and
// any orphan reparented here until no child is left.
func (c *Process) reapAll() {
	defer close(c.reaper)
	reaped := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: no child, so no descendant, is left
			if !reaped {
				release()
				c.exit(false)
				c.io.wait()
				c.finish(syscall.WaitStatus(0xff00)) // cannot happen: lost our own child
			}
			return
		}
		if pid == c.pid {
			reaped = true
			release()
			c.exit(false)
			// Orphans are reaped meanwhile.
			go func() { c.io.wait(); c.finish(ws) }()
			continue
		}
		c.mu.Lock()
		c.orphans++
		c.mu.Unlock()
		c.log.Debug("drain exec: reaped an orphan", "pid", pid, "status", describe(ws))
	}
}

// finish records the reaped application's status and closes done.
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

// State is the reaped application's state, as exec.Cmd's ProcessState;
// it waits for Done. It is nil with ReapAll (Exited and ExitCode say how
// the application ended in every case).
func (c *Process) State() *os.ProcessState {
	<-c.done
	return c.cmd.ProcessState
}

// KillGroup sends SIGKILL to the application's process group, unless its
// leader has exited (then the group id may soon belong to another
// process; KillGroupAtExit killed the group at that moment). It reports
// whether it sent the signal.
func (c *Process) KillGroup() bool { return c.SignalGroup(syscall.SIGKILL) }

// SignalGroup sends sig to the application's whole process group (a
// router's master and its workers), unless its leader has exited, as
// KillGroup. It reports whether it sent the signal.
func (c *Process) SignalGroup(sig syscall.Signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return false
	}
	select {
	case <-c.done: // ReapAll, or no WaitExit on this system
		return false
	default:
	}
	return syscall.Kill(-c.pid, sig) == nil
}

// Wait waits for Done and returns what exec.Cmd's Wait would: nil for
// exit status 0, else an *exec.ExitError ("exit status 1", "signal:
// killed"); with StartContext, ctx's error when its end killed a process
// that still exited with status 0. With ReapAll (no ProcessState) the
// error says how the application ended.
func (c *Process) Wait() error {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.cmd.ProcessState; st != nil && !st.Success() {
		return &exec.ExitError{ProcessState: st}
	} else if st == nil && exitCode(c.status) != 0 {
		return errors.New(describe(c.status))
	}
	return c.ctxErr
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
	c.KillGroup()
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
// HTTP GET of path answered with a status [Ready] accepts, or, when path is
// "", a successful TCP connect. It fails when ctx ends or the application
// exits first.
func (c *Process) WaitReady(ctx context.Context, addr, path string, interval time.Duration) error {
	return c.Poll(ctx, NewProbe(path, nil, 0), addr, interval)
}

// Poll runs probe against addr every interval, the first time at once,
// until it passes (nil). It returns an error wrapping ErrNotReady when the
// application exits first (checked before every attempt: a port served by
// another process does not count) or when ctx ends (wrapping its cause,
// and saying what the last attempt saw).
func (c *Process) Poll(ctx context.Context, probe *Probe, addr string, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := "no attempt yet"
	for {
		select {
		case <-c.done:
			return fmt.Errorf("%w: it %s before it was ready", ErrNotReady, c.Exited())
		default:
		}
		err := probe.Check(ctx, addr)
		if err == nil {
			return nil
		}
		last = err.Error()
		select {
		case <-c.done:
			return fmt.Errorf("%w: it %s before it was ready", ErrNotReady, c.Exited())
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last attempt: %s)", ErrNotReady, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}
