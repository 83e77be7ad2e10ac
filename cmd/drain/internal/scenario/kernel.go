package scenario

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/netpath"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// checkNetwork rejects a Network or latency the run cannot have.
func checkNetwork(spec Spec) error {
	switch spec.Network {
	case "", NetworkModel:
		if spec.Latency != 0 || spec.Jitter != 0 {
			return fmt.Errorf("%w: latency and jitter need the %s network (a relay in the kernel path adds them)", ErrSetup, NetworkKernel)
		}
	case NetworkKernel:
		if spec.Latency < 0 || spec.Jitter < 0 {
			return fmt.Errorf("%w: negative latency %v or jitter %v", ErrSetup, spec.Latency, spec.Jitter)
		}
	default:
		return fmt.Errorf("%w: network %q is neither %q nor %q", ErrSetup, spec.Network, NetworkModel, NetworkKernel)
	}
	return nil
}

// kernelPath is the kernel network path of one run: the replicas run in
// its namespace, the endpoint changes drive its Service, and the load
// client dials through it.
type kernelPath struct {
	path *netpath.Path

	mu     sync.Mutex
	err    error // the first error of an endpoint change
	cancel context.CancelCauseFunc
}

func newKernelPath(latency, jitter time.Duration) (*kernelPath, error) {
	p, err := netpath.NewPath("", netpath.Latency{Delay: latency, Jitter: jitter})
	if err != nil {
		// netpath's errors say what is missing (root, ip, nft and the
		// package that has it).
		return nil, fmt.Errorf("%w: kernel network path: %w", ErrSetup, err)
	}
	return &kernelPath{path: p}, nil
}

// wire makes plan run its replicas in the namespace, probe them there,
// follow its endpoint changes in the Service (one nftables transaction per
// change: the changes of one sync are applied a few milliseconds apart)
// and blackhole exited replicas there, and cfg dial through the Service. An endpoint change that fails ends the run: cancel is called
// with the error, which failed then returns.
func (k *kernelPath) wire(plan *rollout.Plan, cfg *load.Config, cancel context.CancelCauseFunc) {
	k.cancel = cancel
	wrap := plan.Wrap
	plan.Wrap = func(argv []string) []string {
		if wrap != nil {
			argv = wrap(argv)
		}
		return k.path.Command(argv...)
	}
	plan.Dial = k.path.DialContext
	// An exited replica's address drops new connections (Plan.Teardown):
	// packets to it vanish, as to a deleted pod's.
	plan.Blackhole = func(replica int32, _ string) (io.Closer, error) {
		_, err := k.path.Blackhole(replica)
		return nil, err
	}
	next := plan.OnEvent
	plan.OnEvent = func(ev rollout.Event) {
		// Called in event order, one at a time, right after the
		// rollout's own endpoint list changed.
		switch ev.Kind {
		case rollout.EndpointAdded:
			k.fail(k.path.Add(endpoint.Endpoint{Addr: fmt.Sprintf("127.0.0.1:%d", ev.Port), Replica: ev.Replica}))
		case rollout.EndpointRemoved:
			_, err := k.path.Remove(ev.Replica)
			k.fail(err)
		}
		if next != nil {
			next(ev)
		}
	}
	cfg.Dial = k.path.Service().Dial
}

func (k *kernelPath) fail(err error) {
	if err == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.err = fmt.Errorf("kernel network path: %w", err)
		k.cancel(k.err)
	}
}

// failed returns the first error of an endpoint change, or nil.
func (k *kernelPath) failed() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// hooks returns h with each replica's address replaced by its address in
// the Service (its relay's, with a latency): the hard cases set up before
// a SIGTERM take the same path, latency included, as the load.
func (k *kernelPath) hooks(h rollout.Hooks) rollout.Hooks { return pathHooks{h, k.path} }

type pathHooks struct {
	rollout.Hooks
	path *netpath.Path
}

func (h pathHooks) BeforeStop(replica int32, addr string) {
	if a, ok := h.path.Addr(replica); ok {
		addr = a
	}
	h.Hooks.BeforeStop(replica, addr)
}

// close removes the namespace, its Service and relays. Call it once every
// replica has been reaped.
func (k *kernelPath) close() error {
	if err := k.path.Close(); err != nil {
		return fmt.Errorf("kernel network path: cleanup: %w", err)
	}
	return nil
}
