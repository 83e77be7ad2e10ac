package rollout

// This file: the Runner: its state, its start and its end (Start, Stop); the
// rollout's timeline is roll.go, a replica's life replica.go, the
// client's endpoint view endpointview.go, the record of it all event.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// Runner runs the replicas of a Plan and replaces them one by one.
//
// Use: New, then Start (the initial replicas, ready), then Roll while the
// load runs against Endpoints, then Stop. Stop must always be called; it is
// safe to call more than once, concurrently, and after an error. A Runner is
// single-use.
//
// Processes: each replica runs in its own process group with SIGKILL as its
// parent-death signal; SIGTERM goes to the replica's process only (like the
// container's PID 1), SIGKILL to its whole group, and when the replica's
// process exits the rest of its group is killed (like a container's). Every
// process is reaped by a goroutine of its own.
//
// If Start or Roll returns an error, or the ctx given to Start is canceled,
// every process is killed at once (SIGKILL) and reaped.
type Runner struct {
	plan   Plan
	t0     time.Time
	eps    Endpoints
	sync   *syncer
	probe  *child.Probe
	stdout io.Writer
	stderr io.Writer

	// cbMu serializes recording an event with the action it records (a
	// signal, an endpoint change) and the OnEvent call. Order: cbMu, mu.
	cbMu sync.Mutex
	mu   sync.Mutex
	// guarded by mu
	events   []Event
	procs    []*proc
	ports    map[int]bool
	nextID   int32
	started  bool
	stopping bool        // no new process or goroutine may start
	holes    []io.Closer // the blackholes of exited replicas' addresses, closed by Stop

	wg       sync.WaitGroup // reapers, grace timers, removals, the ctx watcher
	stopOnce sync.Once
	quit     chan struct{} // closed when stopping begins
	force    chan struct{} // closed by a second Stop: skip the graceful wait
	forceOne sync.Once
	stopped  chan struct{} // closed once Stop has finished
}

// New returns a Runner for plan whose event offsets are measured from t0
// (the time Start is called if t0 is zero).
func New(plan Plan, t0 time.Time) *Runner {
	r := &Runner{
		plan:    plan.withDefaults(),
		t0:      t0,
		ports:   make(map[int]bool),
		quit:    make(chan struct{}),
		force:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	r.probe = newProbe(&r.plan)
	r.sync = &syncer{lag: r.plan.Propagation, period: r.plan.SyncPeriod, quit: r.quit, spawn: r.spawnGoroutine}
	r.stdout, r.stderr = io.Discard, io.Discard
	if plan.Stdout != nil {
		r.stdout = child.SerialWriter(plan.Stdout)
	}
	if plan.Stderr != nil {
		r.stderr = child.SerialWriter(plan.Stderr)
	}
	return r
}

// spawnGoroutine runs f in a goroutine counted in wg unless the Runner is
// stopping; it reports whether it did.
func (r *Runner) spawnGoroutine(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Endpoints returns the client's view of the endpoint list; use it as the
// load's Target.
func (r *Runner) Endpoints() *Endpoints { return &r.eps }

// Events returns a copy of the events so far, ordered by At.
func (r *Runner) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Replicas returns what happened to each replica so far, in start order.
func (r *Runner) Replicas() []ReplicaReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ReplicaReport, len(r.procs))
	for i, p := range r.procs {
		rep := p.rep
		if rep.SIGTERM >= 0 && rep.Exited >= 0 {
			rep.Drain = rep.Exited - rep.SIGTERM
		}
		out[i] = rep
	}
	return out
}

// Start starts Plan.Replicas replicas at once and returns when all are ready
// and in Endpoints. Canceling ctx at any time before Stop kills every
// replica at once; call Stop for a graceful end.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.stopping {
		r.mu.Unlock()
		return errors.New("rollout: Start called twice or after Stop")
	}
	r.started = true
	if r.t0.IsZero() {
		r.t0 = time.Now()
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		select {
		case <-ctx.Done():
			r.killAll()
		case <-r.quit:
		}
	}()
	if len(r.plan.Command) == 0 || r.plan.Command[0] == "" {
		r.stop(false)
		return ErrNoCommand
	}
	if s := r.plan.Strategy; s != StrategyRolling && s != StrategyDeleteAll {
		r.stop(false)
		return fmt.Errorf("rollout: unknown Plan.Strategy %q: use %q or %q", s, StrategyRolling, StrategyDeleteAll)
	}

	procs := make([]*proc, 0, r.plan.Replicas)
	for range r.plan.Replicas {
		p, err := r.spawn(true)
		if err != nil {
			r.stop(false)
			return err
		}
		procs = append(procs, p)
	}
	errs := make([]error, len(procs))
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() {
			if errs[i] = r.ready(rctx, p); errs[i] != nil {
				cancel() // the others need not wait: Start fails anyway
			}
		})
	}
	wg.Wait()
	if err := firstError(ctx, errs); err != nil {
		r.stop(false)
		return err
	}
	return nil
}

// firstError prefers a replica's own failure over the cancellation it caused
// in the others.
func firstError(ctx context.Context, errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// Stop ends the run: every replica still running loses its endpoint and gets
// SIGTERM (no PreStop, no Propagation: the run is over); after StopTimeout
// every process group left gets SIGKILL; Stop returns once every process is
// reaped and every goroutine of the Runner has returned. A second call while
// the first is waiting skips the wait (SIGKILL at once); a call after the
// first returned does nothing.
func (r *Runner) Stop() { r.stop(true) }

func (r *Runner) stop(graceful bool) {
	first := false
	r.stopOnce.Do(func() { first = true })
	if !first {
		r.forceOne.Do(func() { close(r.force) })
		<-r.stopped
		return
	}
	defer close(r.stopped)
	r.mu.Lock()
	r.stopping = true
	var live []*proc
	for _, p := range r.procs {
		if !p.gone {
			live = append(live, p)
		}
	}
	r.mu.Unlock()
	close(r.quit)
	// The run is over: nothing is routed to a terminating replica any more.
	// Each removal is an event so that every FallbackAdded has its end.
	r.mu.Lock()
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	for _, p := range procs {
		r.emit(p, FallbackRemoved, func(time.Time, *Event) bool {
			return r.eps.setFallback(endpoint.Endpoint{Addr: p.addr, Replica: p.id}, false)
		})
	}
	if graceful {
		r.beginDelete(live, false)
		for _, p := range live {
			r.sigterm(p, false)
		}
		t := time.NewTimer(r.plan.StopTimeout)
	wait:
		for _, p := range live {
			select {
			case <-p.done:
			case <-t.C:
				break wait
			case <-r.force:
				break wait
			}
		}
		t.Stop()
	}
	r.killAll()
	r.wg.Wait()
	r.mu.Lock()
	holes := r.holes
	r.holes = nil
	r.mu.Unlock()
	for _, c := range holes {
		c.Close()
	}
}

// killAll sends SIGKILL to every process group whose leader is running and
// forbids new processes.
func (r *Runner) killAll() {
	r.mu.Lock()
	r.stopping = true
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	for _, p := range procs {
		r.emit(p, Killed, func(time.Time, *Event) bool {
			if p.gone {
				return false
			}
			return p.app.KillGroup()
		})
	}
}

// sleep waits d, or returns early if ctx is done or the Runner stops.
func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.quit:
		return ErrStopped
	}
}
