package rollout

import "time"

// Hooks lets the load side act around a replica's SIGTERM without rollout
// knowing anything of HTTP. Both are called from the rollout goroutine.
type Hooks interface {
	// BeforeStop is called just before replica gets SIGTERM; it returns once
	// the hard cases (idle connections, half-sent headers, slow bodies) are
	// set up on the wire to addr.
	BeforeStop(replica int32, addr string)
	// AfterStop is called right after the SIGTERM was sent at time at.
	AfterStop(replica int32, at time.Time)
}
