package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
)

// Errors returned by Start and Roll, wrapped with the replica, its command,
// its port and the last lines of its stderr.
var (
	ErrExitedEarly = errors.New("rollout: replica exited before it was ready")
	ErrNotReady    = errors.New("rollout: replica not ready in time")
	ErrNoCommand   = errors.New("rollout: empty Command")
	ErrStopped     = errors.New("rollout: runner stopped")
)

// proc is one replica process. Fields below mu are guarded by Runner.mu.
type proc struct {
	id     int32
	port   int
	addr   string
	argv   []string
	app    *child.Process
	stderr *child.Tail
	done   chan struct{} // closed once the process is reaped and Exited recorded

	// guarded by Runner.mu
	pid       int
	gone      bool // the leader exited (not yet necessarily reaped)
	deleting  bool // endpoint removal began (deletion moment)
	leftSlice bool // its exit reached the client: it can no longer join the fallback list
	original  bool
	rep       ReplicaReport

	removed chan struct{} // closed once the endpoint removal is done (if deleting)
	added   chan struct{} // closed once the endpoint was added, or never will be
}

// start starts the process with PORT set and "{port}" replaced, through
// child: in its own process group, with SIGKILL as its parent-death signal
// so nothing survives drain; when it exits, onExit runs and the rest of its
// group is killed before it is reaped. Its output goes to stdout and stderr
// (and the stderr tail).
func (p *proc) start(plan *Plan, stdout, stderr io.Writer, onExit func()) error {
	if err := canStart(); err != nil {
		return err
	}
	port := strconv.Itoa(p.port)
	p.argv = make([]string, len(plan.Command))
	for i, a := range plan.Command {
		if i > 0 {
			a = strings.ReplaceAll(a, "{port}", port)
		}
		p.argv[i] = a
	}
	argv := p.argv
	if plan.Wrap != nil {
		argv = plan.Wrap(slices.Clone(argv))
		if len(argv) == 0 {
			return errors.New("rollout: Plan.Wrap returned an empty argv")
		}
	}
	cfg := child.Config{
		Args:            argv,
		Env:             append(append(os.Environ(), plan.Env...), "PORT="+port),
		Stderr:          io.MultiWriter(stderr, p.stderr),
		OnExit:          onExit,
		KillGroupAtExit: true, // like a pod's processes: they end with its main one
	}
	if stdout != io.Discard {
		cfg.Stdout = stdout // else /dev/null
	}
	app, err := child.Start(cfg)
	if err != nil {
		return err
	}
	p.app = app
	return nil
}

// describe names the replica for an error message.
func (p *proc) describe() string {
	return fmt.Sprintf("replica %d (%q on %s)", p.id, strings.Join(p.argv, " "), p.addr)
}

// failure wraps err with the replica's description and its stderr tail.
func (p *proc) failure(err error) error {
	msg := p.describe()
	if s := p.stderr.String(); s != "" {
		msg += "; last stderr:\n" + s
	}
	return fmt.Errorf("%w: %s", err, msg)
}

// waitReady polls the readiness probe every interval, the first time delay
// after start, until it passes, the process exits, timeout elapses after
// the delay, or ctx is done.
func (p *proc) waitReady(ctx context.Context, plan *Plan, probe *child.Probe, started time.Time, delay time.Duration) error {
	limit := delay + plan.ReadyTimeout
	ctx, cancel := context.WithDeadline(ctx, started.Add(limit))
	defer cancel()
	if wait := time.Until(started.Add(delay)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-p.app.Done():
			t.Stop()
			return p.exitedEarly()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	err := p.app.Poll(ctx, probe, p.addr, plan.ReadyInterval)
	select {
	case <-p.app.Done():
		if err != nil {
			return p.exitedEarly()
		}
	default:
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && time.Since(started) >= limit:
		return p.failure(fmt.Errorf("%w: not ready after %v", ErrNotReady, limit))
	}
	return ctx.Err()
}

// exitedEarly is ErrExitedEarly with how the process ended, once it has.
func (p *proc) exitedEarly() error {
	return p.failure(fmt.Errorf("%w: %v", ErrExitedEarly, p.app.State()))
}

// newProbe returns the readiness probe plan asks for (child.Probe: any
// 200-399 passes, Kubernetes' rule, as for drain exec), its connections
// opened by plan.Dial.
func newProbe(plan *Plan) *child.Probe {
	path := plan.ReadyPath
	if plan.TCPReady {
		path = ""
	}
	return child.NewProbe(path, plan.Dial, DefaultProbeTimeout)
}

// freePort returns a loopback port that was free a moment ago and is not in
// used. It is picked below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): outgoing connections (the load client's
// thousands, opened while replicas start) and ":0" listeners take their
// ports from that range, and one of them could take a port picked there
// before the replica binds it (the replica would exit at start).
func freePort(used map[int]bool) (int, error) {
	if lo, hi := portRange(); hi > lo {
		for range 50 {
			port := lo + rand.IntN(hi-lo)
			if used[port] {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				continue
			}
			ln.Close()
			used[port] = true
			return port, nil
		}
	}
	// No free port below the range (or no range): one of the kernel's.
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("rollout: pick a port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !used[port] {
			used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("rollout: pick a port: no new free port")
}

// portRange is where freePort picks: from 10000 up to the start of the
// kernel's ephemeral range (Linux's default starts at 32768; other
// systems' at 49152).
func portRange() (lo, hi int) {
	lo, hi = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	if hi-lo < 1000 {
		return 0, 0
	}
	return lo, hi
}
