package rollout

import (
	"sync"
	"time"
)

// syncer models how kube-proxy applies endpoint changes: each change is
// seen lag after it happened, and changes are applied in syncs that start
// at least period apart (kube-proxy's BoundedFrequencyRunner with
// minSyncPeriod): a change seen when the last sync began period or longer
// ago starts a sync at once; one seen sooner waits for the sync period
// after the last, which applies every change seen by then, in order.
// period <= 0 applies each change as it is seen.
//
// Changes are seen in the order they happened, as one lag apart implies,
// even when a busy machine wakes their timers' goroutines in another
// order: one whose lag has passed waits for those ahead of it, whose
// deadlines have passed too.
//
// It starts its goroutines with spawn, which reports false once the run
// stops (the change is then seen at once, with every change ahead of it);
// each returns once quit is closed, applying the changes still waiting
// (each apply decides what a stopping run needs).
type syncer struct {
	lag, period time.Duration
	quit        <-chan struct{}
	spawn       func(func()) bool

	mu        sync.Mutex
	lagging   []*lagged // changes not seen yet, in the order they happened
	last      time.Time // start of the last sync; zero: none yet
	queued    []func()  // changes seen, waiting for the scheduled sync
	scheduled bool      // a goroutine waits for the next sync
}

// change records a change that happened now; apply (nil for a change that
// only starts a sync, such as a not-ready endpoint) runs at the sync that
// applies it, outside the syncer's lock, in order with the other changes
// of that sync.
func (s *syncer) change(apply func()) {
	if s.lag <= 0 {
		s.seen(apply)
		return
	}
	at := time.Now().Add(s.lag)
	l := &lagged{apply: apply}
	s.mu.Lock()
	s.lagging = append(s.lagging, l)
	s.mu.Unlock()
	if !s.spawn(func() { s.after(at, l) }) {
		s.arrive(l, true)
	}
}

// lagged is a change on its way to kube-proxy.
type lagged struct {
	apply func()
	due   bool // its lag has passed (or the run stops)
}

func (s *syncer) after(at time.Time, l *lagged) {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.quit:
	}
	s.arrive(l, false)
}

// arrive marks l due (and, with all, every change ahead of it) and has the
// due changes at the head of the line seen, in order.
func (s *syncer) arrive(l *lagged, all bool) {
	s.mu.Lock()
	l.due = true
	if all {
		for _, m := range s.lagging {
			if m == l {
				break
			}
			m.due = true
		}
	}
	var applies []func()
	n := 0
	for _, m := range s.lagging {
		if !m.due {
			break
		}
		applies = append(applies, m.apply)
		n++
	}
	s.lagging = s.lagging[n:]
	if n == 0 {
		s.mu.Unlock()
		return
	}
	s.seenLocked(applies...)
}

// seen queues apply for the next sync and starts it now if it is due.
func (s *syncer) seen(apply func()) {
	s.mu.Lock()
	s.seenLocked(apply)
}

// seenLocked queues applies (nil ones only start a sync) for the next sync
// and starts it now if it is due. It unlocks s.mu.
func (s *syncer) seenLocked(applies ...func()) {
	for _, apply := range applies {
		if apply != nil {
			s.queued = append(s.queued, apply)
		}
	}
	if s.scheduled {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	next := s.last.Add(s.period)
	if s.period <= 0 || s.last.IsZero() || !now.Before(next) {
		s.runLocked(now)
		return
	}
	s.scheduled = true
	s.mu.Unlock()
	if !s.spawn(func() { s.syncAt(next) }) {
		s.mu.Lock()
		s.scheduled = false
		s.runLocked(now)
	}
}

// syncAt waits until next (or quit) and runs the scheduled sync.
func (s *syncer) syncAt(next time.Time) {
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.quit:
	}
	s.mu.Lock()
	s.scheduled = false
	s.runLocked(time.Now())
}

// runLocked starts a sync at now: it takes the queued changes, unlocks
// s.mu and applies them. The applies of one sync run before the next sync
// can start, since that one is at least period later (or the run stops).
func (s *syncer) runLocked(now time.Time) {
	fns := s.queued
	s.queued = nil
	s.last = now
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
