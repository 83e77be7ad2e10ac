package drain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// pollInterval is how soon the closing phase looks again at an idle
// connection it could not close yet for a passing reason (net/http not yet
// blocked in Read, bytes not yet read from the kernel).
const pollInterval = 5 * time.Millisecond

// sweepGapPerConn is the least time between two sweeps of the closing loop
// per connection still pending. A sweep costs about 50 ns per connection
// here (perf, 19,000 connections: at 1 µs per connection the sweeps took
// 5 % of a core), so the loop keeps to about 2.5 % of one core at any count
// (see the loop in drain).
const sweepGapPerConn = 2 * time.Microsecond

// run is Run after its once-only check; see Run's doc.
func (d *Drainer) run(ctx context.Context) error {
	d.mu.Lock()
	if d.ran {
		d.mu.Unlock()
		return ErrRunOnce
	}
	d.ran = true
	servers := append([]*server(nil), d.servers...)
	d.mu.Unlock()

	for i, s := range servers {
		if err := s.listen(); err != nil {
			for _, o := range servers[:i] {
				o.ln.Close()
				o.ln.closeBacklog()
			}
			// No drain will end the holds: do not leave a holder waiting.
			d.abandonHolds(nil)
			return err
		}
	}

	firstSig := make(chan os.Signal, 1)
	stopSignals := d.watchSignals(firstSig)
	defer stopSignals()

	var serving sync.WaitGroup
	serveErr := make(chan error, len(servers))
	for _, s := range servers {
		serving.Go(func() {
			if err := s.serve(); err != nil {
				serveErr <- err
				d.poke()
			}
		})
	}

	stopSweep := make(chan struct{})
	var sweeping sync.WaitGroup
	sweeping.Go(func() { d.idleSweep(servers, stopSweep) })

	// Whichever trigger comes first begins the drain; the others join it.
	// Only a second request of the same kind forces it: a second Stop call
	// or a second signal (see Stop and watchSignals).
	var failed error
	cause := ""
	select {
	case <-ctx.Done():
		cause = "context: " + context.Cause(ctx).Error()
	case s := <-firstSig:
		cause = "signal: " + s.String()
	case <-d.stop:
		cause = "Stop"
	case failed = <-serveErr:
		cause = "serve error: " + failed.Error()
	}

	err := d.drain(servers, cause)
	close(stopSweep)
	sweeping.Wait()
	serving.Wait()
	if failed == nil {
		select {
		case failed = <-serveErr:
		default:
		}
	}
	if failed != nil {
		err = errors.Join(failed, err)
	}
	return err
}

// idleSweep enforces the callers' idle timeouts that trackedConn keeps
// lazily, until stop is closed. It closes only quiet connections. It
// returns at once when no server has an idle timeout.
func (d *Drainer) idleSweep(servers []*server, stop <-chan struct{}) {
	period := time.Duration(0)
	for _, s := range servers {
		if s.lazyIdle {
			p := max(s.idleTimeout/10, 10*time.Millisecond)
			if period == 0 || p < period {
				period = p
			}
		}
	}
	if period == 0 {
		return
	}
	period = min(period, time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, s := range servers {
				if s.lazyIdle {
					s.closeExpired(now.UnixNano())
				}
			}
		}
	}
}

// drain runs the phases; called once by Run's goroutine, which owns them.
func (d *Drainer) drain(servers []*server, cause string) error {
	start := time.Now()
	d.drainStart.Store(start.UnixNano())
	d.phase.Store(int32(PhaseLameDuck))
	close(d.draining)
	d.log.Info("drain: lame duck", "cause", cause, "delay", d.opts.Delay, "idle_policy", d.opts.Idle.String(), "conns", d.stats(servers).Conns)

	forced := false
	if d.opts.Delay > 0 {
		forced = d.lameDuck(start)
	}

	// Listeners first: whoever sees PhaseClosing (Phase, readiness) can
	// count on new connections being refused.
	for _, s := range servers {
		s.ln.Close()
	}
	d.phase.Store(int32(PhaseClosing))
	closingAt := time.Now()
	st := d.stats(servers)
	d.log.Info("drain: listeners closed", "after", closingAt.Sub(start).Round(time.Millisecond), "conns", st.Conns, "active", st.Active, "idle", st.Idle, "new", st.New, "hijacked", st.Hijacked, "http2", st.HTTP2, "holds", d.outstandingHolds())

	deadline := start.Add(d.opts.Deadline)
	forceAt := deadline.Add(d.opts.ForceAfter)
	var shutdowns, goAways sync.WaitGroup
	shutCtx, cancelShut := context.WithCancel(context.Background())
	defer cancelShut()
	hitDeadline := false
	// The loop runs on events (a connection idle or closed, a hold
	// released, a PING acknowledged: poke) and at the moments sweep asks
	// for, never on a fixed tick: its cost follows the events, not the
	// number of connections times the drain's length.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !forced {
		d.sweeps.Add(1)
		now := time.Now()
		pending := 0
		wakeAt := forceAt
		if !hitDeadline {
			wakeAt = deadline
		}
		for _, s := range servers {
			n, onlyH2, next := s.sweep(now, closingAt, deadline, &goAways)
			d.swept.Add(int64(n))
			pending += n
			wakeAt = earliest(wakeAt, next)
			if onlyH2 && !s.shutdownStarted {
				// Only HTTP/2 connections are left, and every h2c one has
				// read our first GOAWAY: Shutdown sends them the final
				// GOAWAY without touching HTTP/1 connections.
				s.shutdownStarted = true
				shutdowns.Go(func() { _ = s.hs.Shutdown(shutCtx) })
			}
		}
		// Holds are counted after the connections: the drain ends only
		// when both are gone.
		held := 0
		if pending == 0 {
			held = d.endHoldsIfNone()
		} else {
			held = d.outstandingHolds()
		}
		if pending+held == 0 {
			break
		}
		if !hitDeadline && !now.Before(deadline) {
			hitDeadline = true
			d.phase.Store(int32(PhaseCancelling))
			for _, s := range servers {
				s.cancelHandlers()
			}
			d.cancelHolds(ErrDeadline)
			st := d.stats(servers)
			d.log.Warn("drain: deadline reached, cancelling handlers", "conns", st.Conns, "active", st.Active, "hijacked", st.Hijacked, "holds", held)
		}
		if !now.Before(forceAt) {
			forced = true
			break
		}
		// A sweep looks at every connection, and each connection's idle
		// close has its own moment (and pokes the loop when it happens):
		// 19,000 keep-alive connections used in the seconds before
		// SIGTERM made a sweep per close, 2 CPU-s over a 5 s drain
		// (bench/drain-wait, mode recent). The next sweep waits at least
		// sweepGapPerConn per pending connection, so that closes due
		// close together share a sweep and the loop's cost stays a small
		// share of a core whatever the count; a close comes at most that
		// gap (38 ms for 19,000 connections) after its moment.
		gap := time.Duration(pending) * sweepGapPerConn
		gapEnd := time.Now().Add(gap)
		timer.Reset(max(time.Until(wakeAt), gap))
		select {
		case <-timer.C:
		case <-d.wake:
			if rest := time.Until(gapEnd); rest > 0 {
				timer.Reset(rest)
				select {
				case <-timer.C:
				case <-d.force:
					forced = true
				}
			}
		case <-d.force:
			forced = true
		}
	}
	abandoned := 0
	if forced {
		abandoned = d.abandonHolds(ErrForced)
		st := d.stats(servers)
		d.log.Warn("drain: forcing close", "conns", st.Conns, "holds", abandoned)
		for _, s := range servers {
			s.closeAll(closedForced)
		}
	}
	cancelShut()
	for _, s := range servers {
		s.cancelHandlers()
		_ = s.hs.Close()
		s.ln.closeBacklog()
	}
	shutdowns.Wait()
	goAways.Wait()
	d.lingerMu.Lock()
	d.lingerEnd = true
	d.lingerMu.Unlock()
	d.lingering.Wait()

	d.phase.Store(int32(PhaseCleanup))
	cerr := d.runCleanups()
	end := time.Now()
	d.drainEnd.Store(end.UnixNano())
	d.phase.Store(int32(PhaseDone))
	st = d.stats(servers)
	d.log.Info("drain: done", "duration", end.Sub(start).Round(time.Millisecond), "accepted", st.Accepted,
		"closed_by_peer", st.ClosedByPeer, "closed_idle", st.ClosedIdle, "closed_forced", st.ClosedForced,
		"deadline", hitDeadline, "forced", forced)

	var err error
	if hitDeadline {
		err = ErrDeadline
	}
	if forced && (st.ClosedForced > 0 || abandoned > 0) {
		err = errors.Join(ErrForced, err)
	}
	return errors.Join(err, cerr)
}

// lameDuck waits out the propagation delay; it reports whether a second
// trigger forced the drain meanwhile.
func (d *Drainer) lameDuck(start time.Time) bool {
	end := time.NewTimer(d.opts.Delay)
	defer end.Stop()
	var quiet <-chan time.Time
	if d.opts.Quiet > 0 {
		t := time.NewTicker(max(d.opts.Quiet/8, time.Millisecond))
		defer t.Stop()
		quiet = t.C
	}
	for {
		select {
		case <-end.C:
			return false
		case <-d.force:
			return true
		case now := <-quiet:
			last := max(start.UnixNano(), d.lastAccept.Load())
			if now.Sub(time.Unix(0, last)) >= d.opts.Quiet {
				d.log.Info("drain: delay ended early", "quiet", d.opts.Quiet, "after", now.Sub(start).Round(time.Millisecond))
				return false
			}
		}
	}
}

func (d *Drainer) runCleanups() error {
	d.mu.Lock()
	steps := append([]cleanup(nil), d.cleanups...)
	d.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		c := steps[i]
		ctx, cancel := context.WithTimeout(context.Background(), d.opts.CleanupTimeout)
		t := time.Now()
		err := runStep(ctx, c.fn)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("drain: cleanup %q: %w", c.name, err))
		}
		d.log.Info("drain: cleanup", "step", c.name, "duration", time.Since(t).Round(time.Millisecond), "err", err)
	}
	return errors.Join(errs...)
}

// runStep bounds a step that ignores its context: it returns when ctx
// expires even if fn does not (fn's goroutine then finishes on its own).
func runStep(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Drainer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
