package rollout

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSyncerBatchesLikeKubeProxy checks the sync moments in virtual time: a
// change seen when the last sync began SyncPeriod or longer ago is applied
// at once; one seen sooner waits for the sync SyncPeriod after the last,
// together with every other change seen by then.
func TestSyncerBatchesLikeKubeProxy(t *testing.T) {
	const (
		lag    = 100 * time.Millisecond
		period = time.Second
	)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		quit := make(chan struct{})
		var wg sync.WaitGroup
		s := &syncer{lag: lag, period: period, quit: quit, spawn: func(f func()) bool { wg.Go(f); return true }}
		var mu sync.Mutex
		applied := map[string]time.Duration{}
		change := func(name string) {
			s.change(func() {
				mu.Lock()
				defer mu.Unlock()
				applied[name] = time.Since(start)
			})
		}
		at := func(d time.Duration) { time.Sleep(d - time.Since(start)) }
		s.change(nil) // t=0: a new endpoint, not ready: sync at 0.1 (nothing to apply)
		at(50 * ms)
		change("ready") // seen 0.15, right after a sync: waits for 1.1
		at(60 * ms)
		change("deleted") // seen 0.16: same sync
		at(2500 * ms)
		change("late") // seen 2.6, last sync 1.1: at once
		at(2700 * ms)
		change("later") // seen 2.8: waits for 3.6
		at(3650 * ms)
		change("idle") // seen 3.75, last sync 3.6: waits for 4.6
		close(quit)    // the run stops at 3.65: every pending change now
		wg.Wait()
		want := map[string]time.Duration{
			"ready": 1100 * ms, "deleted": 1100 * ms,
			"late": 2600 * ms, "later": 3600 * ms, "idle": 3650 * ms,
		}
		if diff := cmp.Diff(want, applied); diff != "" {
			t.Errorf("apply times (-want +got):\n%s", diff)
		}
	})
}

// TestSyncerNoPeriod: without a sync period each change is applied lag
// after it happened, on its own.
func TestSyncerNoPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var wg sync.WaitGroup
		s := &syncer{lag: 300 * ms, quit: make(chan struct{}), spawn: func(f func()) bool { wg.Go(f); return true }}
		var got []time.Duration
		var mu sync.Mutex
		for _, d := range []time.Duration{0, 10 * ms, 20 * ms} {
			time.Sleep(d - time.Since(start))
			s.change(func() { mu.Lock(); got = append(got, time.Since(start)); mu.Unlock() })
		}
		wg.Wait()
		if diff := cmp.Diff([]time.Duration{300 * ms, 310 * ms, 320 * ms}, got); diff != "" {
			t.Errorf("apply times (-want +got):\n%s", diff)
		}
	})
}

// TestSyncerKeepsOrder: a change is seen no sooner than those that
// happened before it, even if its goroutine wakes first (a busy machine:
// under load a replacement's readiness overtook the deletion before it and
// the deletion waited a whole SyncPeriod); when the run stops, a change
// is seen at once together with those ahead of it.
func TestSyncerKeepsOrder(t *testing.T) {
	var got []string
	spawned := true
	// The goroutines never run: the test wakes the changes itself.
	s := &syncer{lag: time.Hour, quit: make(chan struct{}), spawn: func(func()) bool { return spawned }}
	for _, name := range []string{"deleted", "added", "probe failed"} {
		s.change(func() { got = append(got, name) })
	}
	deleted, added := s.lagging[0], s.lagging[1]
	s.arrive(added, false)
	if len(got) != 0 {
		t.Fatalf("applied %v while the deletion ahead was not seen yet, want nothing", got)
	}
	s.arrive(deleted, false)
	if want := []string{"deleted", "added"}; !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
	spawned = false // stopping
	s.change(func() { got = append(got, "exited") })
	if want := []string{"deleted", "added", "probe failed", "exited"}; !slices.Equal(got, want) {
		t.Errorf("applied %v once the run stops, want %v", got, want)
	}
	s.arrive(deleted, false) // a late goroutine: nothing more
	if len(got) != 4 || len(s.lagging) != 0 {
		t.Errorf("applied %v, %d waiting after a late wake-up, want 4 and none", got, len(s.lagging))
	}
}

const ms = time.Millisecond

// TestRollSyncAddsWithRemoval runs real replicas: the replacement's
// start triggers a sync, so its endpoint is added only at the next one, a
// SyncPeriod later, in the same sync that removes the replica it replaces.
// That holds when the replacement is ready (and the old one deleted)
// within the period of its start; on a machine too busy for that, the run
// is repeated with the period doubled (up to 4 s) instead of skipped.
func TestRollSyncAddsWithRemoval(t *testing.T) {
	for period := 500 * ms; ; period *= 2 {
		at := rollOneWithPeriod(t, period)
		if d := at["endpoint_added"] - at["started"]; d < period {
			t.Errorf("period %v: replacement added %v after its start, want at least the sync period (its start began a sync)", period, d)
		}
		// Half the period is left for the timers of a busy machine.
		if slow := at["deleted"] - at["started"]; slow > period/2 {
			if period >= 4*time.Second {
				t.Fatalf("period %v: old replica deleted %v after the replacement's start, want within half the period", period, slow)
			}
			t.Logf("period %v: old replica deleted %v after the replacement's start; again with the period doubled", period, slow)
			continue
		}
		// Syncs start at least a period apart: two syncs would be that far.
		if d := at["endpoint_removed"] - at["endpoint_added"]; d < 0 || d > period/2 {
			t.Errorf("period %v: old endpoint removed %v after the new one was added, want the same sync", period, d)
		}
		return
	}
}

// rollOneWithPeriod rolls one replica with SyncPeriod period and returns
// when the replacement started, was ready and added, and when the old one
// was deleted and removed.
func rollOneWithPeriod(t *testing.T, period time.Duration) map[string]time.Duration {
	t.Helper()
	p := quick()
	p.Replicas = 1
	p.SyncPeriod = period
	r := New(p, time.Time{})
	defer r.Stop()
	startRoll(t, r)
	at := map[string]time.Duration{}
	for _, ev := range r.Events() {
		if ev.Replica == 1 && (ev.Kind == Started || ev.Kind == Ready || ev.Kind == EndpointAdded) ||
			ev.Replica == 0 && ev.Kind == EndpointRemoved {
			at[ev.Kind.String()] = ev.At
		}
	}
	if len(at) != 4 {
		t.Fatalf("events: %v, want the replacement's started, ready, endpoint_added and the old one's endpoint_removed", at)
	}
	at["deleted"] = r.Replicas()[0].Deleted
	return at
}

// TestTeardownBlackholesAddress: once a replica has exited, its address
// refuses new connections; Teardown later they go unanswered and a dial
// ends at its own timeout; Stop makes it refuse again.
func TestTeardownBlackholesAddress(t *testing.T) {
	const teardown = 300 * ms
	p := quick()
	p.Replicas = 1
	p.Teardown = teardown
	exited, gone := make(chan Event, 1), make(chan Event, 1)
	p.OnEvent = func(ev Event) {
		switch {
		case ev.Replica == 0 && ev.Kind == Exited:
			exited <- ev
		case ev.Replica == 0 && ev.Kind == AddressGone:
			gone <- ev
		}
	}
	r := New(p, time.Time{})
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := r.Endpoints().List()[0].Addr
	done := make(chan error, 1)
	go func() { done <- r.Roll(context.Background(), nil) }()
	ex := <-exited
	if err := dial(addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial right after exit: %v, want connection refused", err)
	}
	g := <-gone
	if d := g.At - ex.At; d < teardown {
		t.Errorf("address gone %v after exit, want at least %v", d, teardown)
	}
	const timeout = 1500 * ms // past the first SYN retransmission (1 s)
	begin := time.Now()
	var nerr net.Error
	if err := dial(addr, timeout); !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("dial after teardown: %v, want a timeout", err)
	} else if d := time.Since(begin); d < timeout {
		t.Errorf("dial timed out after %v, want the full %v", d, timeout)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := dial(addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Stop: %v, want connection refused", err)
	}
}

// TestTeardownNever: a negative Teardown leaves the address refusing.
func TestTeardownNever(t *testing.T) {
	p := quick()
	p.Replicas = 1
	p.Settle = 500 * ms // past DefaultTeardown
	r := New(p, time.Time{})
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := r.Endpoints().List()[0].Addr
	if err := r.Roll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for _, ev := range r.Events() {
		if ev.Kind == AddressGone {
			t.Errorf("AddressGone with Teardown -1: %+v", ev)
		}
	}
	if err := dial(addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want connection refused", err)
	}
}

func dial(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err == nil {
		c.Close()
	}
	return err
}
