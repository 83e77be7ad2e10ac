package netpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// Path is the whole kernel network path of one run: a Namespace, a
// Service in it, and with a non-zero Latency a Relay in front of each
// endpoint (inside the namespace, so the Service DNATs to the relays). The
// replicas run in the namespace (Command), are probed directly (DialContext:
// a kubelet probes the pod, not the Service), and the load client goes
// through the Service (Target and Dial).
//
// Add and Remove follow the endpoint list; they are safe for concurrent
// use but are meant to be called in the order of the endpoint changes.
// Close removes everything, also after an error, and is idempotent.
type Path struct {
	ns  *Namespace
	svc *Service
	lat Latency

	mu     sync.Mutex
	eps    []endpoint.Endpoint // the Service's endpoints (relay addresses)
	addrs  map[int32]string    // every replica added -> its address in the Service
	relays []*relayRun         // every relay started, kept until Close
	closed bool
}

type relayRun struct {
	r    *Relay
	done chan error
}

// NewPath creates the namespace and the Service (DefaultVIP if vip is
// empty). lat is the one-way latency between the client and each replica;
// zero means no relays: the client reaches the replicas through the kernel
// alone.
func NewPath(vip string, lat Latency) (*Path, error) {
	ns, err := NewNamespace()
	if err != nil {
		return nil, err
	}
	svc, err := NewService(ns, vip)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &Path{ns: ns, svc: svc, lat: lat, addrs: make(map[int32]string)}, nil
}

// Namespace returns the namespace.
func (p *Path) Namespace() *Namespace { return p.ns }

// Service returns the Service: the load client's Target, whose Dial the
// client must use (it dials from inside the namespace).
func (p *Path) Service() *Service { return p.svc }

// Command returns argv prefixed to run inside the namespace.
func (p *Path) Command(argv ...string) []string { return p.ns.Command(argv...) }

// DialContext dials from inside the namespace, bypassing the Service and
// the relays: for readiness probes.
func (p *Path) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.ns.DialContext(ctx, network, addr)
}

// Add adds the endpoint of a replica that became ready; ep.Addr is where
// the replica listens inside the namespace. With a Latency, a Relay is
// started in front of it first, and the Service gets the relay's address.
func (p *Path) Add(ep endpoint.Endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.lat.Delay > 0 || p.lat.Jitter > 0 {
		ln, err := p.ns.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("netpath: relay for replica %d: %w", ep.Replica, err)
		}
		rr := &relayRun{r: NewRelay(ln, ep.Addr, p.ns.DialContext, p.lat), done: make(chan error, 1)}
		go func() { rr.done <- rr.r.Serve() }()
		p.relays = append(p.relays, rr)
		ep.Addr = rr.r.Addr().String()
	}
	eps := append(slices.Clone(p.eps), ep)
	if err := p.svc.SetEndpoints(eps); err != nil {
		return err
	}
	p.eps = eps
	p.addrs[ep.Replica] = ep.Addr
	return nil
}

// Addr returns the address the Service sends replica's connections to:
// its Relay's with a Latency, else the replica's own. It stays valid after
// Remove (the Relay keeps relaying until Close), so a client that must
// reach one replica in particular (a connection set up just before its
// SIGTERM) goes through the same path as the Service's connections. ok is
// false if replica was never added.
func (p *Path) Addr(replica int32) (addr string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr, ok = p.addrs[replica]
	return addr, ok
}

// Remove removes the endpoint of replica from the Service; established
// connections keep it (conntrack), and its Relay keeps relaying them until
// Close, so data and FINs still in flight are delivered. It reports whether
// the replica had an endpoint.
func (p *Path) Remove(replica int32) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false, ErrClosed
	}
	eps := slices.DeleteFunc(slices.Clone(p.eps), func(ep endpoint.Endpoint) bool { return ep.Replica == replica })
	if len(eps) == len(p.eps) {
		return false, nil
	}
	if err := p.svc.SetEndpoints(eps); err != nil {
		return true, err
	}
	p.eps = eps
	return true, nil
}

// Blackhole makes the address the Service sends replica's connections to
// (Addr) drop new connections (Service.Blackhole): for a replica that
// exited and whose address, like a deleted pod's, no longer answers. With
// a Latency the Relay's address is dropped, so the Relay never dials the
// exited replica. It reports false if replica was never added.
func (p *Path) Blackhole(replica int32) (bool, error) {
	addr, ok := p.Addr(replica)
	if !ok {
		return false, nil
	}
	return true, p.svc.Blackhole(addr)
}

// Close stops the relays, removes the Service and deletes the namespace.
// Stop the replicas first: the namespace lives on while a process runs in
// it. Close is idempotent.
func (p *Path) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	relays := p.relays
	p.mu.Unlock()
	var errs []error
	for _, rr := range relays {
		errs = append(errs, rr.r.Close(), <-rr.done)
	}
	errs = append(errs, p.svc.Close(), p.ns.Close())
	return errors.Join(errs...)
}
