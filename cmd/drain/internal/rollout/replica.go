package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
)

// This file: one replica's life as the Runner drives it: started, probed until
// ready, signaled, reaped, its address torn down; and its report.

// ReplicaReport is what happened to one replica. Offsets are from the run
// start given to New; an offset of -1 means the step did not happen.
type ReplicaReport struct {
	Replica         int32
	Port            int
	Pid             int
	Original        bool          // started by Start (not by Roll)
	Started         time.Duration // the process was started
	Ready           time.Duration // readiness passed (the endpoint is added then for an original, at a sync for a replacement)
	Deleted         time.Duration // the deletion moment: endpoint removal began
	SIGTERM         time.Duration // SIGTERM sent (Deleted + PreStop during Roll)
	EndpointRemoved time.Duration // the removal reached the client
	Exited          time.Duration // the process exited
	Drain           time.Duration // SIGTERM to exit, or -1
	ExitCode        int           // the exit code; -1 if ended by a signal or still running
	Signal          string        // the signal that ended it ("SIGKILL"), if any
	Killed          bool          // ended by SIGKILL (after Grace, or by Stop or cancellation)
}

// spawn starts a new replica on a free port and its reaper. The caller
// hands a replacement's start to the syncer.
func (r *Runner) spawn(original bool) (*proc, error) {
	r.mu.Lock()
	port, err := freePort(r.ports)
	id := r.nextID
	r.nextID++
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p := &proc{
		id:       id,
		port:     port,
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		stderr:   new(child.Tail),
		done:     make(chan struct{}),
		original: original,
		added:    make(chan struct{}),
	}
	var startErr error
	r.emit(p, Started, func(now time.Time, _ *Event) bool {
		if r.stopping {
			startErr = ErrStopped
			return false
		}
		onExit := func() { // before the pid can be reused: nothing signals it after
			r.mu.Lock()
			p.gone = true
			r.mu.Unlock()
		}
		if err := p.start(&r.plan, r.stdout, r.stderr, onExit); err != nil {
			startErr = fmt.Errorf("rollout: start replica %d (%q on port %d): %w", p.id, p.argv, p.port, err)
			return false
		}
		p.pid = p.app.Pid()
		p.rep = ReplicaReport{
			Replica: p.id, Port: p.port, Pid: p.pid, Original: original,
			Started: now.Sub(r.t0), Ready: -1, Deleted: -1, SIGTERM: -1,
			EndpointRemoved: -1, Exited: -1, Drain: -1, ExitCode: -1,
		}
		r.procs = append(r.procs, p)
		r.wg.Add(1)
		go r.reap(p)
		return true
	})
	if startErr != nil {
		return nil, startErr
	}
	return p, nil
}

// reap waits until child has reaped p's process (gone set at its exit,
// the rest of its group killed before the pid can be reused) and records
// Exited.
func (r *Runner) reap(p *proc) {
	defer r.wg.Done()
	defer close(p.done)
	state := p.app.State()
	// A replica that died on its own leaves the endpoint list at once.
	r.emit(p, EndpointRemoved, func(now time.Time, _ *Event) bool {
		if p.deleting || !r.eps.remove(p.id) {
			return false
		}
		p.rep.EndpointRemoved = now.Sub(r.t0)
		return true
	})
	r.emit(p, Exited, func(now time.Time, ev *Event) bool {
		ev.ExitCode = -1
		if ws, ok := state.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Exited():
				ev.ExitCode = ws.ExitStatus()
			case ws.Signaled():
				ev.Signal = child.SignalName(ws.Signal())
				ev.Killed = ws.Signal() == syscall.SIGKILL
			}
		}
		p.rep.Exited = now.Sub(r.t0)
		p.rep.ExitCode, p.rep.Signal, p.rep.Killed = ev.ExitCode, ev.Signal, ev.Killed
		return true
	})
	r.sync.change(func() { r.leaveSlice(p) }) // the pod leaves the EndpointSlice
	if r.plan.Teardown >= 0 {
		deadline := time.Now().Add(r.plan.Teardown)
		r.spawnGoroutine(func() { r.teardown(p, deadline) })
	}
}

// teardown makes p's address drop new connections at deadline, unless the
// Runner stops first.
func (r *Runner) teardown(p *proc, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.quit:
		return
	}
	hole := r.plan.Blackhole
	if hole == nil {
		hole = loopbackBlackhole
	}
	c, err := hole(p.id, p.addr)
	if err != nil {
		slog.Warn("rollout: the exited replica's address still refuses connections", "replica", p.id, "addr", p.addr, "err", err)
		return
	}
	r.emit(p, AddressGone, func(time.Time, *Event) bool {
		if c != nil {
			r.holes = append(r.holes, c)
		}
		return true
	})
}

// ready waits for p's readiness and adds its endpoint.
func (r *Runner) ready(ctx context.Context, p *proc) error {
	r.mu.Lock()
	started := r.t0.Add(p.rep.Started)
	r.mu.Unlock()
	var delay time.Duration
	if !p.original {
		delay = r.plan.ReadyDelay
	}
	if err := p.waitReady(ctx, &r.plan, r.probe, started, delay); err != nil {
		return err
	}
	exited := false
	r.emit(p, Ready, func(now time.Time, _ *Event) bool {
		if p.gone {
			exited = true
			return false
		}
		p.rep.Ready = now.Sub(r.t0)
		return true
	})
	if exited { // between the probe and now
		close(p.added)
		<-p.done
		return p.exitedEarly()
	}
	// An original replica is in the endpoint list from the start; a
	// replacement's endpoint reaches the client at a sync, like a removal:
	// kube-proxy applies both in one sync, so the new pod is not routable
	// while the old one drains (measured: docs/kubernetes.md).
	if p.original {
		r.addEndpoint(p)
	} else {
		r.sync.change(func() { r.addEndpoint(p) })
	}
	return nil
}

// sigterm sends SIGTERM to p's process (not its group) unless it already
// exited or already got it, and with grace set, arms the SIGKILL Grace later. It returns the
// time of the signal.
func (r *Runner) sigterm(p *proc, grace bool) time.Time {
	return r.emit(p, SIGTERM, func(now time.Time, _ *Event) bool {
		if p.gone || p.rep.SIGTERM >= 0 {
			return false
		}
		p.app.Signal(syscall.SIGTERM)
		p.rep.SIGTERM = now.Sub(r.t0)
		if grace && !r.stopping {
			r.wg.Add(1)
			go r.killAfter(p, now.Add(r.plan.Grace))
		}
		return true
	})
}

// killAfter sends SIGKILL to p's group at deadline unless it exited.
func (r *Runner) killAfter(p *proc, deadline time.Time) {
	defer r.wg.Done()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	r.emit(p, Killed, func(time.Time, *Event) bool {
		if p.gone {
			return false
		}
		return p.app.KillGroup()
	})
}
