package router

import "time"

// A pacer says when a controller applies the endpoint changes it has seen:
// given the moment a change became pending (pending) and the start of its
// last sync (last, zero before the first), it returns the moment of the
// sync that applies it. It is a pure function, tested without a clock.
type pacer func(pending, last time.Time) time.Time

// rateLimited is a controller whose syncs are rate-limited to one per
// interval with a burst of one, like ingress-nginx's sync queue
// (--sync-rate-limit 0.3 per second: a token bucket of one token): a change
// is applied at once if the last sync began interval or longer ago, else at
// last+interval, together with every change pending by then.
func rateLimited(interval time.Duration) pacer {
	return func(pending, last time.Time) time.Time {
		if last.IsZero() || !pending.Before(last.Add(interval)) {
			return pending
		}
		return last.Add(interval)
	}
}

// ticking is a controller that applies pending changes at the ticks of a
// ticker started at origin, like the HAProxy Kubernetes Ingress
// Controller's --sync-period (5 s): a change waits for the next tick.
func ticking(origin time.Time, period time.Duration) pacer {
	return func(pending, _ time.Time) time.Time {
		if pending.Before(origin) {
			return origin
		}
		n := pending.Sub(origin) / period
		t := origin.Add(n * period)
		if t.Before(pending) {
			t = t.Add(period)
		}
		return t
	}
}

// immediate applies every change as soon as it is seen.
func immediate(pending, _ time.Time) time.Time { return pending }
