package scenario

import (
	"fmt"

	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/router"
)

// newRouter checks spec's router is installed and makes plan's endpoint
// changes reach it. The router starts once the initial replicas are ready.
func newRouter(spec Spec, plan *rollout.Plan) (*router.Router, error) {
	if spec.Network != "" && spec.Network != NetworkModel {
		return nil, fmt.Errorf("%w: router %s needs the %s network", ErrSetup, spec.Router, NetworkModel)
	}
	rt, err := router.New(spec.Router, router.Options{Log: plan.Stderr, ProbePath: plan.ReadyPath})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	next := plan.OnEvent
	plan.OnEvent = func(ev rollout.Event) {
		rt.OnEvent(ev)
		if next != nil {
			next(ev)
		}
	}
	return rt, nil
}

// routerHooks sets the hard cases up on connections to the router, the
// path every request takes: the replica about to stop is the router's to
// reach.
type routerHooks struct {
	rollout.Hooks
	addr string
}

func (h routerHooks) BeforeStop(replica int32, _ string) { h.Hooks.BeforeStop(replica, h.addr) }
