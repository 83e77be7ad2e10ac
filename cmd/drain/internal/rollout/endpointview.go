package rollout

// This file: the client's endpoint view as the Runner changes it: additions,
// deletions and the fallback list, each applied at a kube-proxy-like sync
// (syncer, sync.go) and recorded as an event.

import (
	"context"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

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
		ok := r.probe.Check(ctx, p.addr) == nil
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
