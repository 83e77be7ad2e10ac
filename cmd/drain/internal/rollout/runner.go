package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

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
	client *http.Client
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
		client:  newProbeClient(plan.Dial),
		ports:   make(map[int]bool),
		quit:    make(chan struct{}),
		force:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	r.sync = &syncer{lag: r.plan.Propagation, period: r.plan.SyncPeriod, quit: r.quit, spawn: r.spawnGoroutine}
	r.stdout, r.stderr = io.Discard, io.Discard
	if plan.Stdout != nil {
		r.stdout = &lockedWriter{w: plan.Stdout}
	}
	if plan.Stderr != nil {
		r.stderr = &lockedWriter{w: plan.Stderr}
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

// Roll replaces each replica running when it is called. With
// Plan.Strategy StrategyRolling (the default) it does so one at a time, the
// way a Deployment with maxSurge 1, maxUnavailable 0 does:
//
//  1. wait Warmup (before the first replacement only);
//  2. start a new replica and wait until it is ready; its endpoint reaches
//     Endpoints at a later sync (Plan.Propagation, Plan.SyncPeriod);
//  3. at one moment (the deletion moment) begin the old replica's endpoint
//     removal, which reaches Endpoints at a sync too;
//  4. after PreStop, call hooks.BeforeStop, send SIGTERM, call
//     hooks.AfterStop; SIGKILL follows Grace after SIGTERM if needed;
//  5. wait Settle and move to the next replica without waiting for the old
//     one to exit.
//
// With StrategyDeleteAll it replaces them all at once, the way a
// ReplicaSet does when every pod is deleted (kubectl delete pod -l ...):
//
//  1. wait Warmup;
//  2. at one moment (the deletion moment) begin every old replica's
//     endpoint removal, in one change that reaches Endpoints at a sync:
//     there each one whose readiness probe still passes moves to the
//     fallback list (terminating, serving: used while no endpoint is
//     ready), and its probe keeps running every ReadyInterval until it
//     exits; a failing probe, and its exit, take it out of that list at a
//     later sync;
//  3. start every replacement at once; each one's endpoint reaches
//     Endpoints at the sync after it is ready (no sooner than
//     Plan.ReadyDelay after its start);
//  4. after PreStop, for each old replica in turn: hooks.BeforeStop,
//     SIGTERM, hooks.AfterStop; SIGKILL follows Grace after SIGTERM;
//  5. once every replacement is ready, wait Settle.
//
// An old replica's address drops new connections Teardown after it exited.
// Roll returns once every old replica has exited and its endpoint removal
// has reached Endpoints, and every new one's addition has. hooks may be
// nil. On an error every process has been killed and reaped.
func (r *Runner) Roll(ctx context.Context, hooks Hooks) error {
	r.mu.Lock()
	if !r.started || r.stopping {
		r.mu.Unlock()
		return ErrStopped
	}
	var old []*proc
	for _, p := range r.procs {
		if !p.gone && !p.deleting {
			old = append(old, p)
		}
	}
	r.mu.Unlock()
	if hooks == nil {
		hooks = noHooks{}
	}
	var err error
	if r.plan.Strategy == StrategyDeleteAll {
		err = r.rollAll(ctx, hooks, old)
	} else {
		err = r.roll(ctx, hooks, old)
	}
	if err != nil && !errors.Is(err, ErrStopped) {
		r.stop(false)
	}
	return err
}

func (r *Runner) roll(ctx context.Context, hooks Hooks, old []*proc) error {
	if err := r.sleep(ctx, r.plan.Warmup); err != nil {
		return err
	}
	var fresh []*proc
	for _, o := range old {
		p, err := r.spawn(false)
		if err != nil {
			return err
		}
		r.sync.change(nil) // kube-proxy sees a new endpoint, not ready yet
		fresh = append(fresh, p)
		if err := r.ready(ctx, p); err != nil {
			return err
		}
		if err := r.terminate(ctx, o, hooks); err != nil {
			return err
		}
		if err := r.sleep(ctx, r.plan.Settle); err != nil {
			return err
		}
	}
	return r.waitDone(ctx, old, fresh)
}

// rollAll replaces every replica in old at once (StrategyDeleteAll).
func (r *Runner) rollAll(ctx context.Context, hooks Hooks, old []*proc) error {
	if err := r.sleep(ctx, r.plan.Warmup); err != nil {
		return err
	}
	// The deletions and the replacements' starts reach kube-proxy as one
	// change: one sync applies them all (the first sync after the
	// deletion), and the next sync, a SyncPeriod later, whatever the old
	// replicas' probes said since.
	apply := r.markDeleted(old, true)
	fresh := make([]*proc, 0, len(old))
	for range old {
		p, err := r.spawn(false)
		if err != nil {
			r.sync.change(apply)
			return err
		}
		fresh = append(fresh, p)
	}
	r.sync.change(apply)
	// Probe changes are queued after the deletion that they follow.
	for _, o := range old {
		r.spawnGoroutine(func() { r.watchServing(o) })
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fresh))
	var wg sync.WaitGroup
	for i, p := range fresh {
		wg.Go(func() {
			if errs[i] = r.ready(rctx, p); errs[i] != nil {
				cancel() // the others need not wait: Roll fails anyway
			}
		})
	}
	err := r.sleep(ctx, r.plan.PreStop)
	if err == nil {
		for _, o := range old {
			hooks.BeforeStop(o.id, o.addr)
			at := r.sigterm(o, true)
			hooks.AfterStop(o.id, at)
		}
	} else {
		cancel()
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if err := firstError(ctx, errs); err != nil {
		return err
	}
	if err := r.sleep(ctx, r.plan.Settle); err != nil {
		return err
	}
	return r.waitDone(ctx, old, fresh)
}

// waitDone waits until every old replica has exited and left the endpoint
// list and every fresh one has joined it.
func (r *Runner) waitDone(ctx context.Context, old, fresh []*proc) error {
	var waits []chan struct{}
	for _, o := range old {
		waits = append(waits, o.done, o.removed)
	}
	for _, p := range fresh {
		waits = append(waits, p.added)
	}
	for _, c := range waits {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.quit:
			return ErrStopped
		}
	}
	return nil
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
			killGroup(p.pid)
			return true
		})
	}
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
		stderr:   new(tail),
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
		if err := p.start(&r.plan, r.stdout, r.stderr); err != nil {
			startErr = fmt.Errorf("rollout: start replica %d (%q on port %d): %w", p.id, p.argv, p.port, err)
			return false
		}
		p.pid = p.cmd.Process.Pid
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

// reap owns p's process: it waits for the exit, kills the rest of the
// process group before the pid can be reused, reaps, and records Exited.
func (r *Runner) reap(p *proc) {
	defer r.wg.Done()
	defer close(p.done)
	waitExit(p.pid)
	r.mu.Lock()
	p.gone = true
	r.mu.Unlock()
	killGroup(p.pid)
	p.cmd.Wait()
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
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Exited():
				ev.ExitCode = ws.ExitStatus()
			case ws.Signaled():
				ev.Signal = signalName(ws.Signal())
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
	if err := p.waitReady(ctx, &r.plan, r.client, started, delay); err != nil {
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
		return p.failure(fmt.Errorf("%w: %v", ErrExitedEarly, p.cmd.ProcessState))
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

// addEndpoint adds p's endpoint to Endpoints unless p exited or is being
// deleted, or a replacement's addition comes after the Runner stopped.
func (r *Runner) addEndpoint(p *proc) {
	defer close(p.added)
	r.emit(p, EndpointAdded, func(time.Time, *Event) bool {
		if p.gone || p.deleting || (r.stopping && !p.original) {
			return false
		}
		r.eps.add(endpoint.Endpoint{Addr: p.addr, Replica: p.id})
		return true
	})
}

// terminate does steps 3 and 4 of Roll for o.
func (r *Runner) terminate(ctx context.Context, o *proc, hooks Hooks) error {
	r.beginDelete([]*proc{o}, true)
	if err := r.sleep(ctx, r.plan.PreStop); err != nil {
		return err
	}
	hooks.BeforeStop(o.id, o.addr)
	at := r.sigterm(o, true)
	hooks.AfterStop(o.id, at)
	return nil
}

// beginDelete marks the deletion moment of each of ps not being deleted
// yet and hands their endpoint removals to the syncer as one change (or
// applies them at once if !propagate, or once the Runner stops).
func (r *Runner) beginDelete(ps []*proc, propagate bool) {
	apply := r.markDeleted(ps, false)
	r.mu.Lock()
	now := !propagate || r.stopping
	r.mu.Unlock()
	if now {
		apply()
	} else {
		r.sync.change(apply)
	}
}

// markDeleted marks the deletion moment (one for all) of each of ps not
// being deleted yet and returns the change that removes their endpoints.
// With fallback (StrategyDeleteAll), that change also puts each one in
// the fallback list: its last readiness probe passed (it was ready, and
// watchServing, started once the change is queued, reports what follows).
func (r *Runner) markDeleted(ps []*proc, fallback bool) (apply func()) {
	r.mu.Lock()
	var del []*proc
	at := time.Since(r.t0)
	for _, p := range ps {
		if p.deleting {
			continue
		}
		p.deleting = true
		p.removed = make(chan struct{})
		p.rep.Deleted = at
		del = append(del, p)
	}
	r.mu.Unlock()
	return func() {
		for _, p := range del {
			// Into the fallback list first: the other order lets the
			// client see both lists empty for an instant (one replica),
			// which kube-proxy, applying one sync at once, never shows.
			if fallback {
				r.setServing(p, true)
			}
			r.removeEndpoint(p)
		}
	}
}

// watchServing probes p's readiness every ReadyInterval until it exits or
// the Runner stops, and hands each change of the result to the syncer:
// kube-proxy sees a terminating endpoint's serving condition change.
func (r *Runner) watchServing(p *proc) {
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-p.done:
		case <-r.quit:
		case <-ctx.Done():
		}
		cancel() // ends a probe in flight
	}()
	defer func() {
		cancel()
		<-watched
	}()
	tick := time.NewTicker(r.plan.ReadyInterval)
	defer tick.Stop()
	serving := true
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		ok := probe(ctx, &r.plan, r.client, p.addr)
		if ctx.Err() != nil {
			return
		}
		if ok != serving {
			serving = ok
			r.sync.change(func() { r.setServing(p, ok) })
		}
	}
}

// setServing puts p's endpoint in the fallback list or takes it out,
// unless its exit already reached the client or the Runner is stopping,
// and records FallbackAdded or FallbackRemoved if the list changed: it
// runs at a sync, so the event is stamped when the client sees the change,
// like EndpointRemoved.
func (r *Runner) setServing(p *proc, serving bool) {
	kind := FallbackRemoved
	if serving {
		kind = FallbackAdded
	}
	r.emit(p, kind, func(time.Time, *Event) bool {
		if serving && (p.leftSlice || r.stopping) {
			return false
		}
		return r.eps.setFallback(endpoint.Endpoint{Addr: p.addr, Replica: p.id}, serving)
	})
}

// leaveSlice applies p's exit: its endpoint leaves the EndpointSlice, and
// so the fallback list (FallbackRemoved if it was in it).
func (r *Runner) leaveSlice(p *proc) {
	r.emit(p, FallbackRemoved, func(time.Time, *Event) bool {
		p.leftSlice = true
		return r.eps.setFallback(endpoint.Endpoint{Addr: p.addr, Replica: p.id}, false)
	})
}

func (r *Runner) removeEndpoint(p *proc) {
	defer close(p.removed)
	r.emit(p, EndpointRemoved, func(now time.Time, _ *Event) bool {
		if !r.eps.remove(p.id) {
			return false
		}
		p.rep.EndpointRemoved = now.Sub(r.t0)
		return true
	})
}

// sigterm sends SIGTERM to p's process (not its group) unless it already
// exited or already got it, and with grace set, arms the SIGKILL Grace later. It returns the
// time of the signal.
func (r *Runner) sigterm(p *proc, grace bool) time.Time {
	return r.emit(p, SIGTERM, func(now time.Time, _ *Event) bool {
		if p.gone || p.rep.SIGTERM >= 0 {
			return false
		}
		sendSIGTERM(p.pid)
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
		killGroup(p.pid)
		return true
	})
}

// emit runs action (if it returns false, nothing is recorded) and records an
// event of kind for p, under the Runner's locks, then calls OnEvent. It
// returns the time of the event.
func (r *Runner) emit(p *proc, kind EventKind, action func(now time.Time, ev *Event) bool) time.Time {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.mu.Lock()
	now := time.Now()
	ev := Event{Replica: p.id, Kind: kind, Port: p.port}
	if action != nil && !action(now, &ev) {
		r.mu.Unlock()
		return now
	}
	ev.At = now.Sub(r.t0)
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.plan.OnEvent != nil {
		r.plan.OnEvent(ev)
	}
	return now
}

type noHooks struct{}

func (noHooks) BeforeStop(int32, string)   {}
func (noHooks) AfterStop(int32, time.Time) {}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", // + SIGUSR1/2 on Unix (sys_unix.go)
	syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}
