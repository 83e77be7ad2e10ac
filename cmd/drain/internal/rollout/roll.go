package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// This file: the rollout's timeline: Roll replaces the replicas one at a time
// (StrategyRolling) or all at once (StrategyDeleteAll), in the order a
// Deployment or a ReplicaSet does.

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
// nil. On an error every process has been killed and reaped. If Stop is
// called while Roll runs, Roll returns an error wrapping ErrStopped (and
// the failure it caused, if any).
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
	if err == nil || errors.Is(err, ErrStopped) {
		return err
	}
	select {
	case <-r.quit:
		// Stop began meanwhile: a replica it signaled failing its
		// readiness is the stop, not the rollout's failure; and a second
		// stop call here would cut Stop's graceful wait short.
		return fmt.Errorf("%w (%w)", ErrStopped, err)
	default:
	}
	r.stop(false)
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

// terminate does steps 3 and 4 of Roll for o.
func (r *Runner) terminate(ctx context.Context, o *proc, hooks Hooks) error {
	r.beginDelete([]*proc{o}, true)
	if err := r.sleep(ctx, r.plan.PreStop); err != nil {
		return err
	}
	r.mu.Lock()
	gone := o.gone
	r.mu.Unlock()
	if gone {
		// It exited on its own (its Exited event says how): no SIGTERM
		// to send, and hard cases set up against its dead address would
		// only wait out their timeouts (10 s) and hold the rollout.
		return nil
	}
	hooks.BeforeStop(o.id, o.addr)
	at := r.sigterm(o, true)
	hooks.AfterStop(o.id, at)
	return nil
}

type noHooks struct{}

func (noHooks) BeforeStop(int32, string) {}

func (noHooks) AfterStop(int32, time.Time) {}
