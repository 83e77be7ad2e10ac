// Package rollout runs replicas of a server as real processes and replaces
// them one by one the way a Kubernetes Deployment with maxSurge 1 and
// maxUnavailable 0 does, emitting an Event for every step.
//
// rollout knows nothing of HTTP beyond readiness probes.
package rollout

import "time"

// EventKind names one step of a replica's life.
type EventKind uint8

const (
	Started         EventKind = iota // the process was started
	Ready                            // the readiness probe passed (its endpoint is added at once for an original replica, at a sync for a replacement)
	SIGTERM                          // SIGTERM sent (endpoint removal began PreStop earlier, at the deletion moment)
	EndpointRemoved                  // the removal reached the client (after propagation, at a sync)
	Killed                           // SIGKILL sent after the grace period
	Exited                           // the process exited (ExitCode, Killed set)
	EndpointAdded                    // the addition reached the client (Endpoints)
	AddressGone                      // the exited replica's address drops new connections (Plan.Teardown)
	FallbackAdded                    // the replica joined the fallback list (terminating, serving: used only while no endpoint is ready), at a sync
	FallbackRemoved                  // the replica left the fallback list (a failed probe or its exit reached the client at a sync, or the run stopped)
	numEventKinds
)

var eventNames = [...]string{"started", "ready", "sigterm", "endpoint_removed", "killed", "exited", "endpoint_added", "address_gone", "fallback_added", "fallback_removed"}

// String returns the stable name used in JSON.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one step of one replica, at an offset from the start of the run.
type Event struct {
	At       time.Duration
	Replica  int32
	Kind     EventKind
	Port     int    // the replica's port
	ExitCode int    // for Exited: the exit code, or -1 if killed by a signal
	Signal   string // for Exited: the signal that ended it, if any
	Killed   bool   // for Exited: the process got SIGKILL
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
