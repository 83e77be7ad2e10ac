package drain

// A Phase is one step of a drain. Phases only move forward, in the order of
// the constants below; a drain may skip [PhaseCancelling] (nothing was left
// at the deadline). [Drainer.Phase] reports the current one.
type Phase int32

const (
	// PhaseServing is the normal state before a drain. Readiness answers
	// 200. It leads to PhaseLameDuck when a signal arrives, the context
	// given to [Drainer.Run] is cancelled, or [Drainer.Stop] is called.
	PhaseServing Phase = iota

	// PhaseLameDuck is the propagation delay ([Options.Delay]): readiness
	// answers 503 (200 with [ReadyThroughDelay]), the listeners still accept and every request is still
	// served, but each HTTP/1.1 response carries "Connection: close";
	// HTTP/2 connections are served as they are (no GOAWAY). It leads to
	// PhaseClosing when the delay ends.
	PhaseLameDuck

	// PhaseClosing begins when the listeners close; readiness answers 503.
	// In-flight requests run
	// to completion and get "Connection: close"; idle keep-alive connections
	// are closed as [Options.Idle] says; a connection that has received any
	// byte of a request is never closed by the idle policy. h2c connections
	// get the two-step GOAWAY of RFC 9113 §6.8 (GOAWAY 2^31-1, PING, then
	// the server's own GOAWAY after the ACK); the final GOAWAY goes to
	// HTTP/2 connections once no HTTP/1 connection is left. It leads to
	// PhaseCleanup when no connection and no [Drainer.Hold] is left, or to
	// PhaseCancelling at [Options.Deadline].
	PhaseClosing

	// PhaseCancelling begins at the deadline: the contexts of in-flight
	// handlers and of holds are cancelled so they can return.
	// [Options.ForceAfter] later every remaining connection (hijacked ones
	// too) is closed and outstanding holds are no longer waited for. It
	// leads to PhaseCleanup.
	PhaseCancelling

	// PhaseCleanup runs the steps registered with [Drainer.OnShutdown], in
	// reverse order of registration. It leads to PhaseDone.
	PhaseCleanup

	// PhaseDone: [Drainer.Run] is returning or has returned.
	PhaseDone
)

var phaseNames = [...]string{"serving", "lame-duck", "closing", "cancelling", "cleanup", "done"}

// String returns the phase's name as used in logs and [Stats].
func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}
