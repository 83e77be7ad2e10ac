package rollout

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// Endpoints is the client's view of the endpoint list: a replica is added
// once its readiness probe passes and removed after its deletion moment,
// each change at a kube-proxy-like sync (Plan.Propagation, Plan.SyncPeriod).
//
// Besides the ready list it keeps a fallback list: replicas being deleted
// (terminating) whose readiness probe still passes (serving), which
// kube-proxy routes to only while no endpoint is ready (KEP-1669,
// "ProxyTerminatingEndpoints"). A replica joins it at its deletion's sync
// if its last probe passed and leaves it at the sync that applies a failed
// probe or its exit. Only Plan.Strategy StrategyDeleteAll fills it: a
// rolling update never leaves the ready list empty.
//
// It implements endpoint.Target; Pick and List are safe for concurrent use and
// never block on the Runner. The zero value is an empty list.
type Endpoints struct {
	mu   sync.Mutex // serializes writers
	sets atomic.Pointer[endpointSets]
}

// endpointSets is one consistent state of both lists; it is never modified
// once stored.
type endpointSets struct {
	ready, fallback []endpoint.Endpoint
}

var _ endpoint.Target = (*Endpoints)(nil)

// Pick returns one of the ready endpoints at random, each equally likely,
// as kube-proxy's nftables rule does (numgen random mod N): unlike
// round-robin, a connection refused by a dead endpoint can be followed by
// another to the same one. When no endpoint is ready it picks from the
// fallback list (terminating but serving) the same way, as kube-proxy
// does. ok is false when both lists are empty: kube-proxy rejects the
// connection (the Service has no endpoints).
func (e *Endpoints) Pick() (ep endpoint.Endpoint, ok bool) {
	s := e.sets.Load()
	if s == nil {
		return endpoint.Endpoint{}, false
	}
	l := s.ready
	if len(l) == 0 {
		l = s.fallback
	}
	if len(l) == 0 {
		return endpoint.Endpoint{}, false
	}
	return l[rand.N(len(l))], true
}

// List returns a copy of the ready endpoints in the order they were added
// (not the fallback list).
func (e *Endpoints) List() []endpoint.Endpoint {
	s := e.sets.Load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.ready)
}

// fallbackList returns a copy of the fallback endpoints in the order they
// joined.
func (e *Endpoints) fallbackList() []endpoint.Endpoint {
	s := e.sets.Load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.fallback)
}

// update replaces the lists with fn's changes to copies of them.
func (e *Endpoints) update(fn func(s *endpointSets) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s endpointSets
	if p := e.sets.Load(); p != nil {
		s = endpointSets{ready: slices.Clone(p.ready), fallback: slices.Clone(p.fallback)}
	}
	if !fn(&s) {
		return false
	}
	e.sets.Store(&s)
	return true
}

func (e *Endpoints) add(ep endpoint.Endpoint) {
	e.update(func(s *endpointSets) bool {
		s.ready = append(s.ready, ep)
		return true
	})
}

// remove drops the ready endpoint of replica and reports whether it was
// present.
func (e *Endpoints) remove(replica int32) bool {
	return e.update(func(s *endpointSets) bool {
		n := len(s.ready)
		s.ready = slices.DeleteFunc(s.ready, func(ep endpoint.Endpoint) bool { return ep.Replica == replica })
		return len(s.ready) != n
	})
}

// setFallback puts ep in the fallback list (serving) or takes it out, and
// reports whether the list changed.
func (e *Endpoints) setFallback(ep endpoint.Endpoint, serving bool) bool {
	return e.update(func(s *endpointSets) bool {
		i := slices.IndexFunc(s.fallback, func(f endpoint.Endpoint) bool { return f.Replica == ep.Replica })
		switch {
		case serving && i < 0:
			s.fallback = append(s.fallback, ep)
		case !serving && i >= 0:
			s.fallback = slices.Delete(s.fallback, i, i+1)
		default:
			return false
		}
		return true
	})
}
