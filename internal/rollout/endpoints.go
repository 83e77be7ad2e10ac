package rollout

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/drainhttp/drain/internal/load"
)

// Endpoints is the client's view of the endpoint list: a replica is added
// once its readiness probe passes and removed after its deletion moment,
// each change at a kube-proxy-like sync (Plan.Propagation, Plan.SyncPeriod). It implements load.Target; Pick and List are safe for concurrent
// use and never block on the Runner. The zero value is an empty list.
type Endpoints struct {
	mu   sync.Mutex // serializes writers
	list atomic.Pointer[[]load.Endpoint]
}

var _ load.Target = (*Endpoints)(nil)

// Pick returns one of the current endpoints at random, each equally
// likely, as kube-proxy's nftables rule does (numgen random mod N): unlike
// round-robin, a connection refused by a dead endpoint can be followed by
// another to the same one. ok is false when the list is empty.
func (e *Endpoints) Pick() (ep load.Endpoint, ok bool) {
	l := e.list.Load()
	if l == nil || len(*l) == 0 {
		return load.Endpoint{}, false
	}
	return (*l)[rand.N(len(*l))], true
}

// List returns a copy of the current endpoints in the order they were added.
func (e *Endpoints) List() []load.Endpoint {
	l := e.list.Load()
	if l == nil {
		return nil
	}
	return slices.Clone(*l)
}

func (e *Endpoints) add(ep load.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var l []load.Endpoint
	if p := e.list.Load(); p != nil {
		l = slices.Clone(*p)
	}
	l = append(l, ep)
	e.list.Store(&l)
}

// remove drops the endpoint of replica and reports whether it was present.
func (e *Endpoints) remove(replica int32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.list.Load()
	if p == nil {
		return false
	}
	l := slices.DeleteFunc(slices.Clone(*p), func(ep load.Endpoint) bool { return ep.Replica == replica })
	if len(l) == len(*p) {
		return false
	}
	e.list.Store(&l)
	return true
}
