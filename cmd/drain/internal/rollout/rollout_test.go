package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// server is the test replica binary built from testdata/server.
var server string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rollout-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", server, "./testdata/server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test server:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// quick is a plan with short timings around the test server.
func quick(args ...string) Plan {
	return Plan{
		Command:       append([]string{server, "-port", "{port}"}, args...),
		ReadyTimeout:  10 * time.Second,
		ReadyInterval: 10 * time.Millisecond,
		Warmup:        -1,
		Settle:        -1,
		Propagation:   -1,
		SyncPeriod:    -1,
		Teardown:      -1,
		Grace:         10 * time.Second,
	}
}

// procStat returns the state and parent of pid; ok is false if it is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// assertNothingLeft checks that no child of the test process remains and
// that each pid is gone (or a zombie another process must reap).
func assertNothingLeft(t *testing.T, pids ...int) {
	t.Helper()
	if c := child.Children(); len(c) > 0 {
		t.Errorf("children left: %v", c)
	}
	for _, pid := range pids {
		// A killed grandchild is reparented and reaped by init, which may
		// take a moment: dead (Z) counts as gone. A SIGKILLed process may
		// still show R until it is scheduled, so wait a little; and with
		// pid_max at 32768 a busy machine reuses pids quickly, so a pid
		// that now runs another program is gone too.
		deadline := time.Now().Add(2 * time.Second)
		for {
			state, _, ok := procStat(pid)
			if !ok || state == 'Z' || state == 'X' || !runsTestServer(pid) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("process %d still running (state %c)", pid, state)
				break
			}
			time.Sleep(10 * time.Millisecond) // polling /proc: there is no event for another process's death
		}
	}
}

// runsTestServer reports whether pid runs the test server binary.
func runsTestServer(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.TrimSuffix(exe, " (deleted)") == server
}

func pids(r *Runner) []int {
	var out []int
	for _, rep := range r.Replicas() {
		out = append(out, rep.Pid)
	}
	return out
}

func replicasOf(eps []endpoint.Endpoint) []int32 {
	var out []int32
	for _, ep := range eps {
		out = append(out, ep.Replica)
	}
	return out
}

func TestStartWaitsForReadiness(t *testing.T) {
	const notReadyFor = 300 * time.Millisecond
	r := New(quick("-ready-after", notReadyFor.String()), time.Time{})
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eps := r.Endpoints().List()
	if got, want := replicasOf(eps), []int32{0, 1}; !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("endpoints after Start: %v, want replicas %v", got, want)
	}
	for _, ep := range eps {
		resp, err := http.Get("http://" + ep.Addr + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s/health: %d after Start, want 200", ep.Addr, resp.StatusCode)
		}
	}
	for _, rep := range r.Replicas() {
		if rep.Ready < rep.Started+notReadyFor {
			t.Errorf("replica %d ready at %v, started at %v: before its /health said 200", rep.Replica, rep.Ready, rep.Started)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestTCPReadinessIgnoresHTTP(t *testing.T) {
	p := quick("-never-ready")
	p.TCPReady = true
	p.Replicas = 1
	r := New(p, time.Time{})
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start with TCPReady and a /health that says 503: %v", err)
	}
	if n := len(r.Endpoints().List()); n != 1 {
		t.Errorf("%d endpoints, want 1", n)
	}
}

func TestCommandNotFound(t *testing.T) {
	p := quick()
	p.Command = []string{"/nonexistent/drain-test-server", "-port", "{port}"}
	r := New(p, time.Time{})
	err := r.Start(context.Background())
	r.Stop()
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start: %v, want an error wrapping os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "/nonexistent/drain-test-server") {
		t.Errorf("error %q does not name the command", err)
	}
	if n := len(r.Replicas()); n != 0 {
		t.Errorf("%d replicas recorded, want 0", n)
	}
	assertNothingLeft(t)

	p.Command = []string{"drain-no-such-command-in-path"}
	err = New(p, time.Time{}).Start(context.Background())
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("Start: %v, want exec.ErrNotFound", err)
	}
	r = New(Plan{}, time.Time{})
	if err := r.Start(context.Background()); !errors.Is(err, ErrNoCommand) {
		t.Errorf("Start with no command: %v, want ErrNoCommand", err)
	}
	r.Stop()
}

func TestExitedEarly(t *testing.T) {
	r := New(quick("-exit-early", "3"), time.Time{})
	err := r.Start(context.Background())
	r.Stop()
	if !errors.Is(err, ErrExitedEarly) {
		t.Fatalf("Start: %v, want ErrExitedEarly", err)
	}
	for _, want := range []string{server, "exit status 3", "exiting early on purpose", "127.0.0.1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, rep := range r.Replicas() {
		if rep.Exited < 0 {
			t.Errorf("replica %d not reaped", rep.Replica)
		}
	}
	assertNothingLeft(t, pids(r)...)
}

func TestNeverReady(t *testing.T) {
	p := quick("-never-ready")
	p.ReadyTimeout = time.Second
	r := New(p, time.Time{})
	err := r.Start(context.Background())
	r.Stop()
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start: %v, want ErrNotReady", err)
	}
	if !strings.Contains(err.Error(), "listening on") {
		t.Errorf("error %q lacks the replica's stderr", err)
	}
	for _, rep := range r.Replicas() {
		if !rep.Killed || rep.Signal != "SIGKILL" {
			t.Errorf("replica %d: Killed %v, Signal %q; want killed by SIGKILL", rep.Replica, rep.Killed, rep.Signal)
		}
	}
	if n := len(r.Endpoints().List()); n != 0 {
		t.Errorf("%d endpoints after a failed Start, want 0", n)
	}
	assertNothingLeft(t, pids(r)...)
}

func TestIgnoresSIGTERMKilledAfterGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	p := quick("-ignore-term")
	p.Replicas = 1
	p.Grace = grace
	r := New(p, time.Time{})
	defer r.Stop()
	startRoll(t, r)
	old := r.Replicas()[0]
	if !old.Killed || old.Signal != "SIGKILL" || old.ExitCode != -1 {
		t.Errorf("old replica: Killed %v, Signal %q, ExitCode %d; want killed by SIGKILL", old.Killed, old.Signal, old.ExitCode)
	}
	if old.Drain < grace {
		t.Errorf("old replica drained %v, want at least the grace %v", old.Drain, grace)
	}
	var kinds []EventKind
	for _, ev := range r.Events() {
		if ev.Replica == 0 {
			kinds = append(kinds, ev.Kind)
		}
	}
	// Propagation is 0: the endpoint goes at the deletion moment, before SIGTERM.
	want := []EventKind{Started, Ready, EndpointAdded, EndpointRemoved, SIGTERM, Killed, Exited}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("replica 0 events (-want +got):\n%s", diff)
	}
}

// recorder is Hooks that checks the endpoint view around SIGTERM.
type recorder struct {
	t   *testing.T
	eps *Endpoints

	mu    sync.Mutex
	calls []string
	at    map[int32]time.Time
}

func (h *recorder) BeforeStop(replica int32, addr string) {
	h.check(replica, "BeforeStop")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("before %d %s", replica, addr))
}

func (h *recorder) AfterStop(replica int32, at time.Time) {
	h.check(replica, "AfterStop")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("after %d", replica))
	h.at[replica] = at
}

func (h *recorder) check(replica int32, where string) {
	if !slices.Contains(replicasOf(h.eps.List()), replica) {
		h.t.Errorf("%s: replica %d not in the endpoint view before Propagation elapsed", where, replica)
	}
}

func TestRollReplacesOneByOne(t *testing.T) {
	const (
		propagation = time.Second
		termDelay   = 100 * time.Millisecond
	)
	p := quick("-term-delay", termDelay.String(), "-term-code", "0")
	p.Propagation = propagation
	t0 := time.Now()
	var r *Runner
	var removedSeen []int32
	p.OnEvent = func(ev Event) {
		if ev.Kind == EndpointRemoved {
			if slices.Contains(replicasOf(r.Endpoints().List()), ev.Replica) {
				t.Errorf("replica %d still in the endpoint view after EndpointRemoved", ev.Replica)
			}
			removedSeen = append(removedSeen, ev.Replica)
		}
	}
	r = New(p, t0)
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addrs := map[int32]string{}
	for _, ep := range r.Endpoints().List() {
		addrs[ep.Replica] = ep.Addr
	}
	hooks := &recorder{t: t, eps: r.Endpoints(), at: map[int32]time.Time{}}
	if err := r.Roll(context.Background(), hooks); err != nil {
		t.Fatal(err)
	}

	// The Roll's causal chain, in order.
	evs := r.Events()
	var chain []string
	for _, ev := range evs {
		switch {
		case ev.Replica >= 2 && (ev.Kind == Started || ev.Kind == Ready),
			ev.Replica < 2 && ev.Kind == SIGTERM:
			chain = append(chain, fmt.Sprintf("%d %s", ev.Replica, ev.Kind))
		}
	}
	want := []string{"2 started", "2 ready", "0 sigterm", "3 started", "3 ready", "1 sigterm"}
	if diff := cmp.Diff(want, chain); diff != "" {
		t.Errorf("roll order (-want +got):\n%s", diff)
	}
	wantCalls := []string{"before 0 " + addrs[0], "after 0", "before 1 " + addrs[1], "after 1"}
	if diff := cmp.Diff(wantCalls, hooks.calls); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].At < evs[i-1].At {
			t.Errorf("events out of order at %d: %v after %v", i, evs[i].At, evs[i-1].At)
		}
	}

	// The old replicas drained and left the view Propagation after deletion.
	reps := r.Replicas()
	for _, old := range reps[:2] {
		if old.ExitCode != 0 || old.Killed || old.Signal != "" {
			t.Errorf("replica %d: ExitCode %d Killed %v Signal %q, want a clean exit 0", old.Replica, old.ExitCode, old.Killed, old.Signal)
		}
		if old.Drain < termDelay {
			t.Errorf("replica %d drained %v, want at least %v", old.Replica, old.Drain, termDelay)
		}
		if old.EndpointRemoved-old.Deleted < propagation {
			t.Errorf("replica %d: endpoint removed %v after deletion, want at least %v", old.Replica, old.EndpointRemoved-old.Deleted, propagation)
		}
		if got := hooks.at[old.Replica].Sub(t0); got != old.SIGTERM {
			t.Errorf("replica %d: AfterStop got %v, SIGTERM event at %v", old.Replica, got, old.SIGTERM)
		}
	}
	if diff := cmp.Diff([]int32{0, 1}, removedSeen); diff != "" {
		t.Errorf("EndpointRemoved events (-want +got):\n%s", diff)
	}
	if got := replicasOf(r.Endpoints().List()); !slices.Equal(got, []int32{2, 3}) {
		t.Errorf("endpoints after Roll: %v, want [2 3]", got)
	}
	for range 10 {
		if ep, ok := r.Endpoints().Pick(); !ok || ep.Replica < 2 {
			t.Fatalf("Pick after Roll: %v %v, want a new replica", ep, ok)
		}
	}
}

// TestPreStopDelaysSIGTERM: SIGTERM comes PreStop after the deletion, and
// the endpoint's removal (Propagation, 50 ms, after the deletion) before
// it: 450 ms apart, which a busy machine's timers do not reorder.
func TestPreStopDelaysSIGTERM(t *testing.T) {
	const preStop = 500 * time.Millisecond
	p := quick()
	p.Replicas = 1
	p.PreStop = preStop
	p.Propagation = 50 * time.Millisecond
	r := New(p, time.Time{})
	defer r.Stop()
	startRoll(t, r)
	old := r.Replicas()[0]
	if old.SIGTERM-old.Deleted < preStop {
		t.Errorf("SIGTERM %v after deletion, want at least PreStop %v", old.SIGTERM-old.Deleted, preStop)
	}
	if old.EndpointRemoved > old.SIGTERM {
		t.Errorf("endpoint removed at %v, after SIGTERM at %v: propagation must count from deletion", old.EndpointRemoved, old.SIGTERM)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	var stderr bytes.Buffer
	p := quick("-child")
	p.Stderr = &syncWriter{w: &stderr}
	r := New(p, time.Time{})
	if err := r.Start(context.Background()); err != nil {
		r.Stop()
		t.Fatal(err)
	}
	r.Stop()
	r.Stop() // a second call does nothing
	all := pids(r)
	var grandchildren int
	for _, line := range strings.Split(stderr.String(), "\n") {
		if pid, ok := strings.CutPrefix(line, "child "); ok {
			n, _ := strconv.Atoi(pid)
			all = append(all, n)
			grandchildren++
		}
	}
	if grandchildren != 2 {
		t.Fatalf("saw %d grandchildren in stderr %q, want 2", grandchildren, stderr.String())
	}
	for _, rep := range r.Replicas() {
		if rep.SIGTERM < 0 || rep.Exited < 0 || rep.ExitCode != 0 {
			t.Errorf("replica %d: SIGTERM %v Exited %v ExitCode %d, want a graceful exit", rep.Replica, rep.SIGTERM, rep.Exited, rep.ExitCode)
		}
	}
	if n := len(r.Endpoints().List()); n != 0 {
		t.Errorf("%d endpoints after Stop, want 0", n)
	}
	assertNothingLeft(t, all...)
	if err := r.Roll(context.Background(), nil); !errors.Is(err, ErrStopped) {
		t.Errorf("Roll after Stop: %v, want ErrStopped", err)
	}
}

func TestCancelKillsEveryReplica(t *testing.T) {
	exited := make(chan Event, 2)
	p := quick("-ignore-term")
	p.OnEvent = func(ev Event) {
		if ev.Kind == Exited {
			exited <- ev
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := New(p, time.Time{})
	defer r.Stop()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	timeout := time.After(5 * time.Second)
	for range 2 {
		select {
		case ev := <-exited:
			if !ev.Killed {
				t.Errorf("replica %d exited without SIGKILL after cancel: %+v", ev.Replica, ev)
			}
		case <-timeout:
			t.Fatal("replicas not reaped 5s after cancel (they ignore SIGTERM; Grace is 10s)")
		}
	}
	assertNothingLeft(t, pids(r)...)
}

func TestSecondStopForcesSIGKILL(t *testing.T) {
	termed := make(chan struct{}, 2)
	p := quick("-ignore-term")
	p.StopTimeout = 10 * time.Second
	p.OnEvent = func(ev Event) {
		if ev.Kind == SIGTERM {
			termed <- struct{}{}
		}
	}
	r := New(p, time.Time{})
	if err := r.Start(context.Background()); err != nil {
		r.Stop()
		t.Fatal(err)
	}
	first := make(chan struct{})
	go func() {
		defer close(first)
		r.Stop()
	}()
	<-termed
	<-termed // the first Stop now waits up to StopTimeout
	start := time.Now()
	r.Stop()
	if d := time.Since(start); d >= p.StopTimeout {
		t.Errorf("second Stop took %v, want less than StopTimeout %v", d, p.StopTimeout)
	}
	<-first
	for _, rep := range r.Replicas() {
		if !rep.Killed {
			t.Errorf("replica %d not killed by the second Stop: %+v", rep.Replica, rep)
		}
	}
	assertNothingLeft(t, pids(r)...)
}

func TestEndpointsPick(t *testing.T) {
	var e Endpoints
	if ep, ok := e.Pick(); ok {
		t.Fatalf("Pick on empty: %v, true", ep)
	}
	e.add(endpoint.Endpoint{Addr: "a", Replica: 0})
	e.add(endpoint.Endpoint{Addr: "b", Replica: 1})
	// At random, like kube-proxy's numgen random mod N: both endpoints
	// come up about equally often, and about half the picks repeat the
	// previous one (round-robin never repeats with 2 endpoints).
	counts := map[int32]int{}
	const n = 2000
	repeats := 0
	prev := int32(-1)
	for range n {
		ep, _ := e.Pick()
		counts[ep.Replica]++
		if ep.Replica == prev {
			repeats++
		}
		prev = ep.Replica
	}
	if counts[0] < n*4/10 || counts[1] < n*4/10 {
		t.Errorf("picks over 2 endpoints: %v, want about %d each", counts, n/2)
	}
	if repeats < n*4/10 || repeats > n*6/10 {
		t.Errorf("%d of %d picks repeated the previous endpoint, want about half (random, not round-robin)", repeats, n)
	}
	if !e.remove(0) || e.remove(0) {
		t.Error("remove(0) twice: want true then false")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if ep, ok := e.Pick(); ok && ep.Replica == 0 {
					t.Error("picked a removed endpoint")
					return
				}
			}
		})
	}
	for i := range 100 {
		e.add(endpoint.Endpoint{Addr: "c", Replica: int32(2 + i)})
		e.remove(int32(2 + i))
	}
	wg.Wait()
	if got := replicasOf(e.List()); !slices.Equal(got, []int32{1}) {
		t.Errorf("List: %v, want [1]", got)
	}
}

func TestPlanDefaults(t *testing.T) {
	got := Plan{StopTimeout: 10 * time.Second, Warmup: -1, Propagation: -1, Teardown: -1}.withDefaults()
	want := Plan{
		Replicas: DefaultReplicas, Strategy: StrategyRolling, ReadyPath: DefaultReadyPath, SyncPeriod: DefaultSyncPeriod, Teardown: -1,
		ReadyTimeout: DefaultReadyTimeout, ReadyInterval: DefaultReadyInterval,
		Grace: DefaultGrace, StopTimeout: 10 * time.Second, Settle: DefaultSettle,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b func(Event)) bool { return a == nil && b == nil })); diff != "" {
		t.Errorf("withDefaults (-want +got):\n%s", diff)
	}
	if got := (Plan{Grace: time.Second}).withDefaults().StopTimeout; got != time.Second {
		t.Errorf("StopTimeout with Grace 1s: %v, want capped at 1s", got)
	}
}

// syncWriter guards a buffer the test reads after Stop.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// TestMaxDuration: the bound counts every replica's ReadyDelay,
// ReadyTimeout, Settle and PreStop, with the defaults New applies.
func TestMaxDuration(t *testing.T) {
	// Warmup 1 s, 2 x (ReadyTimeout 15 s + Settle 1 s), Grace 30 s, Settle 1 s, 5 s.
	if got, want := (Plan{}).MaxDuration(), 69*time.Second; got != want {
		t.Errorf("Plan{}.MaxDuration() = %v, want %v", got, want)
	}
	p := Plan{Replicas: 3, ReadyDelay: 2 * time.Second, PreStop: time.Second, Warmup: -1, Settle: -1, Grace: time.Second, ReadyTimeout: time.Second}
	if got, want := p.MaxDuration(), 3*(4*time.Second)+time.Second+5*time.Second; got != want {
		t.Errorf("%+v: MaxDuration() = %v, want %v", p, got, want)
	}
}

// startRoll starts r's replicas and rolls them once, failing the test on
// an error.
func startRoll(t *testing.T, r *Runner) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Roll(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
