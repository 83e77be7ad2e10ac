package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// TestEndpointsFallbackPick: Pick uses the ready list while it has an
// endpoint, the fallback list (terminating, serving) only when it is
// empty, and fails only when both are.
func TestEndpointsFallbackPick(t *testing.T) {
	var e Endpoints
	a := endpoint.Endpoint{Addr: "a", Replica: 0}
	b := endpoint.Endpoint{Addr: "b", Replica: 1}
	c := endpoint.Endpoint{Addr: "c", Replica: 2}
	e.add(a)
	if !e.setFallback(b, true) || e.setFallback(b, true) {
		t.Error("setFallback(b, true) twice: want true then false")
	}
	for range 200 {
		if ep, ok := e.Pick(); !ok || ep.Replica != 0 {
			t.Fatalf("Pick with a ready endpoint: %v, %v; want replica 0 (never the fallback)", ep, ok)
		}
	}
	e.remove(0)
	e.setFallback(c, true)
	seen := map[int32]int{}
	for range 200 {
		ep, ok := e.Pick()
		if !ok {
			t.Fatal("Pick with an empty ready list and a fallback: not ok")
		}
		seen[ep.Replica]++
	}
	if len(seen) != 2 || seen[1] == 0 || seen[2] == 0 {
		t.Errorf("picks from the fallback: %v, want both 1 and 2", seen)
	}
	if got := replicasOf(e.List()); len(got) != 0 {
		t.Errorf("List: %v, want the ready list only (empty)", got)
	}
	if got := replicasOf(e.fallbackList()); !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("fallbackList: %v, want [1 2]", got)
	}
	e.add(a)
	for range 200 {
		if ep, _ := e.Pick(); ep.Replica != 0 {
			t.Fatalf("Pick once an endpoint is ready again: replica %d, want 0", ep.Replica)
		}
	}
	e.remove(0)
	if !e.setFallback(b, false) || e.setFallback(b, false) {
		t.Error("setFallback(b, false) twice: want true then false")
	}
	e.setFallback(c, false)
	if ep, ok := e.Pick(); ok {
		t.Errorf("Pick with both lists empty: %v, true", ep)
	}
}

// rollAllPicks rolls 2 replicas of the test server (args) with
// StrategyDeleteAll, a 1 s ReadyDelay and immediate endpoint changes
// while picking endpoints without pause, and returns the runner (rolled)
// and whether some Pick between the deletion and the end found no
// endpoint.
func rollAllPicks(t *testing.T, args ...string) (*Runner, bool) {
	t.Helper()
	p := quick(args...)
	p.Strategy = StrategyDeleteAll
	p.ReadyDelay = time.Second
	r := New(p, time.Time{})
	t.Cleanup(r.Stop)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var empty atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, ok := r.Endpoints().Pick(); !ok {
				empty.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	})
	err := r.Roll(context.Background(), nil)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return r, empty.Load()
}

// TestDeleteAllFallbackServing: old replicas that keep passing their
// readiness probe while they drain (-term-delay past the replacements'
// readiness) stay routable from the fallback list until the replacements
// are ready, so Pick always finds an endpoint; once they exit they leave
// it.
func TestDeleteAllFallbackServing(t *testing.T) {
	r, empty := rollAllPicks(t, "-term-delay", "1500ms")
	if empty {
		t.Error("Pick found no endpoint during the delete-all: the serving old replicas should have been the fallback")
	}
	checkDeleteAll(t, r)
}

// TestDeleteAllFallbackUnready: old replicas whose probe fails from
// SIGTERM on leave the fallback list, so until a replacement is ready
// there is no endpoint at all (kube-proxy rejects).
func TestDeleteAllFallbackUnready(t *testing.T) {
	r, empty := rollAllPicks(t, "-term-delay", "1500ms", "-unready-on-term")
	if !empty {
		t.Error("Pick always found an endpoint: the unready old replicas should have left the fallback before the replacements were ready")
	}
	checkDeleteAll(t, r)
}

// checkDeleteAll checks what every delete-all leaves: both old replicas
// deleted at one moment and SIGTERMed, both replacements started at once
// (after the deletion, before the old replicas' SIGTERM, and the second
// before the first is ready: a rolling update waits for that) and ready no
// sooner than ReadyDelay, the ready list the replacements, the fallback
// list empty.
func checkDeleteAll(t *testing.T, r *Runner) {
	t.Helper()
	reps := r.Replicas()
	if len(reps) != 4 {
		t.Fatalf("%d replicas, want 4", len(reps))
	}
	old, fresh := reps[:2], reps[2:]
	if old[0].Deleted < 0 || old[0].Deleted != old[1].Deleted {
		t.Errorf("deletion moments %v and %v, want one", old[0].Deleted, old[1].Deleted)
	}
	for _, o := range old {
		if o.SIGTERM < o.Deleted || o.Exited < 0 || o.ExitCode != 0 {
			t.Errorf("old replica %d: %+v, want SIGTERM after the deletion and a clean exit", o.Replica, o)
		}
	}
	for _, f := range fresh {
		if f.Started < old[0].Deleted || f.Started > old[0].SIGTERM || f.Started > old[1].SIGTERM {
			t.Errorf("replacement %d started at %v, want between the deletion at %v and the SIGTERMs at %v, %v", f.Replica, f.Started, old[0].Deleted, old[0].SIGTERM, old[1].SIGTERM)
		}
		if f.Started > fresh[0].Ready {
			t.Errorf("replacement %d started at %v, after replacement %d was ready (%v): want them started at once", f.Replica, f.Started, fresh[0].Replica, fresh[0].Ready)
		}
		if d := f.Ready - f.Started; d < time.Second {
			t.Errorf("replacement %d ready %v after its start, want at least the ReadyDelay (1s)", f.Replica, d)
		}
		if f.Ready > old[0].Exited || f.Ready > old[1].Exited {
			t.Logf("replacement %d ready at %v after an old replica's exit (%v, %v): a slow machine", f.Replica, f.Ready, old[0].Exited, old[1].Exited)
		}
	}
	if got := replicasOf(r.Endpoints().List()); !slices.Equal(got, []int32{2, 3}) && !slices.Equal(got, []int32{3, 2}) {
		t.Errorf("ready list after Roll: %v, want the replacements", got)
	}
	if got := r.Endpoints().fallbackList(); len(got) != 0 {
		t.Errorf("fallback list after Roll: %v, want empty (the old replicas exited)", got)
	}
}

func TestUnknownStrategy(t *testing.T) {
	p := quick()
	p.Strategy = "recreate"
	r := New(p, time.Time{})
	defer r.Stop()
	err := r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"recreate"`) {
		t.Fatalf("Start: %v, want an unknown-strategy error", err)
	}
	if n := len(r.Replicas()); n != 0 {
		t.Errorf("%d replicas started, want none", n)
	}
}

// TestDeleteAllDeletionAtFirstSync: the deletions and the replacements'
// starts reach kube-proxy as one change, so the old endpoints leave at the
// first sync after the deletion (Propagation later), not a SyncPeriod
// later behind a sync that a replacement's start began a moment before.
// Syncs start at least SyncPeriod apart, so the wrong order removes them
// no sooner than lag+period after the deletion (less the few milliseconds
// between a replacement's start and the deletion); the right one lag
// later plus whatever a busy machine adds: up to 3/4 of a 2 s period.
func TestDeleteAllDeletionAtFirstSync(t *testing.T) {
	const (
		lag    = 100 * time.Millisecond
		period = 2 * time.Second
	)
	p := quick()
	p.Strategy = StrategyDeleteAll
	p.Propagation = lag
	p.SyncPeriod = period
	r := New(p, time.Time{})
	defer r.Stop()
	startRoll(t, r)
	for _, o := range r.Replicas()[:2] {
		if d := o.EndpointRemoved - o.Deleted; d < lag || d >= lag+period*3/4 {
			t.Errorf("replica %d removed %v after its deletion, want the first sync, %v later", o.Replica, d, lag)
		}
	}
}

// fallbackRun is a delete-all of 2 replicas of the test server (args) with
// a kube-proxy lag and sync period; onEvent, if not nil, sees every event. Once Roll
// returned, wait blocks until each old replica's last FallbackRemoved was
// recorded (its exit reaches the client at a sync after Roll may return).
type fallbackRun struct {
	r    *Runner
	gone [2]chan struct{} // closed at replica i's FallbackRemoved
}

const (
	fbLag    = 100 * time.Millisecond
	fbPeriod = time.Second
)

func startFallbackRun(t *testing.T, onEvent func(Event), args ...string) *fallbackRun {
	t.Helper()
	f := &fallbackRun{}
	var once [2]sync.Once
	for i := range f.gone {
		f.gone[i] = make(chan struct{})
	}
	p := quick(args...)
	p.Strategy = StrategyDeleteAll
	p.Propagation = fbLag
	p.SyncPeriod = fbPeriod
	p.StopTimeout = 100 * time.Millisecond
	p.OnEvent = func(ev Event) {
		if ev.Kind == FallbackRemoved && ev.Replica < 2 {
			once[ev.Replica].Do(func() { close(f.gone[ev.Replica]) })
		}
		if onEvent != nil {
			onEvent(ev)
		}
	}
	f.r = New(p, time.Time{})
	t.Cleanup(f.r.Stop)
	if err := f.r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fallbackRun) wait(t *testing.T) {
	t.Helper()
	for i, c := range f.gone {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("no FallbackRemoved for replica %d within 10s; events: %v", i, f.r.Events())
		}
	}
}

// eventsOf returns replica's events of each kind, in order.
func eventsOf(events []Event, replica int32) map[EventKind][]Event {
	out := make(map[EventKind][]Event)
	for _, ev := range events {
		if ev.Replica == replica {
			out[ev.Kind] = append(out[ev.Kind], ev)
		}
	}
	return out
}

// checkFallbackAdded checks that each old replica joined the fallback list
// once, at the sync that applied its deletion (the first after it, fbLag
// later, just before its EndpointRemoved), and that the
// replacements never did. It returns each old replica's events by kind.
func checkFallbackAdded(t *testing.T, r *Runner) [2]map[EventKind][]Event {
	t.Helper()
	events := r.Events()
	reps := r.Replicas()
	var out [2]map[EventKind][]Event
	for i := range 2 {
		evs := eventsOf(events, int32(i))
		out[i] = evs
		fa, er := evs[FallbackAdded], evs[EndpointRemoved]
		if len(fa) != 1 || len(er) != 1 {
			t.Errorf("replica %d: %d FallbackAdded, %d EndpointRemoved; want 1 each", i, len(fa), len(er))
			continue
		}
		// A later sync would start at least fbPeriod after the first
		// (less the moment between the starts and the deletion).
		if d := fa[0].At - reps[i].Deleted; d < fbLag || d >= fbLag+fbPeriod*3/4 {
			t.Errorf("replica %d joined the fallback %v after its deletion, want at the first sync, %v later", i, d, fbLag)
		}
		// Same sync, joining first: the client never sees both lists
		// empty between the two changes.
		if d := er[0].At - fa[0].At; d < 0 || d >= fbPeriod*3/4 {
			t.Errorf("replica %d: EndpointRemoved %v after its FallbackAdded, want the same sync, the join first", i, d)
		}
	}
	for _, rep := range reps[2:] {
		evs := eventsOf(events, rep.Replica)
		if n, m := len(evs[FallbackAdded]), len(evs[FallbackRemoved]); n+m != 0 {
			t.Errorf("replacement %d: %d FallbackAdded, %d FallbackRemoved; want none (never deleted)", rep.Replica, n, m)
		}
	}
	return out
}

// TestDeleteAllFallbackEventsExit: old replicas that keep serving until
// they exit join the fallback list at their deletion's sync
// (FallbackAdded) and leave it at the sync that applies their exit
// (FallbackRemoved, lag to lag+period after Exited).
func TestDeleteAllFallbackEventsExit(t *testing.T) {
	f := startFallbackRun(t, nil, "-term-delay", "1500ms")
	if err := f.r.Roll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	for i, evs := range checkFallbackAdded(t, f.r) {
		fr, ex := evs[FallbackRemoved], evs[Exited]
		if len(fr) != 1 || len(ex) != 1 {
			t.Errorf("replica %d: %d FallbackRemoved, %d Exited; want 1 each", i, len(fr), len(ex))
			continue
		}
		// The exit is seen fbLag later and applied by the next sync, at
		// most fbPeriod after that; one sync more would be 2 fbPeriod.
		if d := fr[0].At - ex[0].At; d < fbLag || d >= fbLag+2*fbPeriod {
			t.Errorf("replica %d left the fallback %v after its exit, want at the sync that applied it (%v to %v later)", i, d, fbLag, fbLag+fbPeriod)
		}
	}
}

// TestDeleteAllFallbackEventsUnready: old replicas whose probe fails from
// SIGTERM on leave the fallback list at the sync that applies the failed
// probe, before they exit; their exit removes nothing more. That sync is
// at most fbLag+fbPeriod (1.1 s) after the failed probe; the replicas
// exit 2.5 s after SIGTERM, leaving a busy machine 1.4 s.
func TestDeleteAllFallbackEventsUnready(t *testing.T) {
	f := startFallbackRun(t, nil, "-term-delay", "2500ms", "-unready-on-term")
	if err := f.r.Roll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	for i, evs := range checkFallbackAdded(t, f.r) {
		fr, term, ex := evs[FallbackRemoved], evs[SIGTERM], evs[Exited]
		if len(fr) != 1 || len(term) != 1 || len(ex) != 1 {
			t.Errorf("replica %d: %d FallbackRemoved, %d SIGTERM, %d Exited; want 1 each", i, len(fr), len(term), len(ex))
			continue
		}
		if fr[0].At < term[0].At+fbLag || fr[0].At > ex[0].At {
			t.Errorf("replica %d left the fallback at %v, want between its SIGTERM (%v) plus the lag and its exit (%v)", i, fr[0].At, term[0].At, ex[0].At)
		}
	}
}

// TestDeleteAllFallbackEventsStop: Stop empties the fallback list (the run
// is over), and records a FallbackRemoved for each replica still in it.
func TestDeleteAllFallbackEventsStop(t *testing.T) {
	joined := make(chan struct{}, 2)
	f := startFallbackRun(t, func(ev Event) {
		if ev.Kind == FallbackAdded {
			joined <- struct{}{}
		}
	}, "-term-delay", "1m")
	rolled := make(chan error, 1)
	go func() { rolled <- f.r.Roll(context.Background(), nil) }()
	for range 2 {
		select {
		case <-joined:
		case <-time.After(10 * time.Second):
			t.Fatalf("the old replicas did not join the fallback list within 10s; events: %v", f.r.Events())
		}
	}
	f.r.Stop()
	if err := <-rolled; !errors.Is(err, ErrStopped) {
		t.Errorf("Roll: %v, want ErrStopped", err)
	}
	f.wait(t)
	if got := f.r.Endpoints().fallbackList(); len(got) != 0 {
		t.Errorf("fallback list after Stop: %v, want empty", got)
	}
	for i := range 2 {
		evs := eventsOf(f.r.Events(), int32(i))
		if n, m := len(evs[FallbackAdded]), len(evs[FallbackRemoved]); n != 1 || m != 1 {
			t.Errorf("replica %d: %d FallbackAdded, %d FallbackRemoved; want 1 each", i, n, m)
		}
	}
}

// TestEventKindNames: every kind has its own name, so none reads "unknown"
// in JSON.
func TestEventKindNames(t *testing.T) {
	seen := make(map[string]EventKind)
	for k := range numEventKinds {
		name := k.String()
		if name == "unknown" || name == "" {
			t.Errorf("kind %d: name %q", k, name)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d share the name %q", prev, k, name)
		}
		seen[name] = k
	}
	if FallbackAdded.String() != "fallback_added" || FallbackRemoved.String() != "fallback_removed" {
		t.Errorf("names %q, %q; want fallback_added, fallback_removed", FallbackAdded, FallbackRemoved)
	}
}

// TestStopDuringRoll: a replacement that Stop's SIGTERM ends before it is
// ready is the stop, not a failed rollout: Roll returns ErrStopped, and
// Stop's graceful wait is not cut short (the old replica, draining for
// 300 ms, exits on its own, not by SIGKILL). Before, Roll returned the
// replacement's exit and called stop a second time, which forced SIGKILL.
func TestStopDuringRoll(t *testing.T) {
	started := make(chan struct{})
	p := quick("-term-delay", "300ms")
	p.Replicas = 1
	p.ReadyDelay = time.Minute
	p.StopTimeout = 5 * time.Second
	p.OnEvent = func(ev Event) {
		if ev.Kind == Started && ev.Replica == 1 {
			close(started)
		}
	}
	r := New(p, time.Time{})
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rolled := make(chan error, 1)
	go func() { rolled <- r.Roll(context.Background(), nil) }()
	<-started
	r.Stop()
	if err := <-rolled; !errors.Is(err, ErrStopped) {
		t.Errorf("Roll: %v, want ErrStopped", err)
	}
	if old := r.Replicas()[0]; old.Killed || old.ExitCode != 0 {
		t.Errorf("old replica: %+v, want a clean exit after its 300 ms drain (not SIGKILL)", old)
	}
}
