package rollout

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hookCalls records the Hooks calls, in order.
type hookCalls struct {
	mu    sync.Mutex
	calls []string
}

func (h *hookCalls) BeforeStop(replica int32, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("before %d %s", replica, addr))
}

func (h *hookCalls) AfterStop(replica int32, _ time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("after %d", replica))
}

// TestRollSkipsReplicaThatExitedOnItsOwn: a replica that dies by itself
// (SIGKILL from outside, as the OOM killer does) while the rollout starts
// its replacement is recorded (Exited with its signal, its endpoint
// removed at once, no SIGTERM) and the rollout goes on: its replacement
// becomes ready and takes its place, and no hooks are spent on the dead
// one. Before the fix the hooks ran against its dead address: drain
// test's hard cases waited out their 10 s timeouts there and held the
// rollout ("before 0 ...", "after 0" below).
func TestRollSkipsReplicaThatExitedOnItsOwn(t *testing.T) {
	p := quick("-term-code", "0")
	var r *Runner
	p.OnEvent = func(ev Event) {
		// The first replacement starts: replica 0, its turn next, dies.
		if ev.Kind == Started && ev.Replica == 2 {
			r.mu.Lock()
			p0 := r.procs[0]
			r.mu.Unlock()
			if err := syscall.Kill(p0.pid, syscall.SIGKILL); err != nil {
				t.Error(err)
			}
			// Reaped, so its exit was seen (gone is set before the reap)
			// before the rollout can come to its turn: the Roll waits on
			// this event's return. Without the wait, on a busy machine the
			// replacement was ready, and replica 0 got its SIGTERM, before
			// its death was noticed.
			<-p0.app.Done()
		}
	}
	r = New(p, time.Now())
	defer r.Stop()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hooks := &hookCalls{}
	if err := r.Roll(context.Background(), hooks); err != nil {
		t.Fatal(err)
	}
	reps := r.Replicas()
	if diff := cmp.Diff([]string{fmt.Sprintf("before 1 127.0.0.1:%d", reps[1].Port), "after 1"}, hooks.calls); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	if r0 := reps[0]; r0.SIGTERM >= 0 || r0.EndpointRemoved < 0 || r0.Exited < 0 || r0.Signal != "SIGKILL" {
		t.Errorf("replica 0: SIGTERM %v, endpoint removed %v, exited %v, signal %q: want no SIGTERM, removed, exited by SIGKILL",
			r0.SIGTERM, r0.EndpointRemoved, r0.Exited, r0.Signal)
	}
	if len(reps) != 4 || reps[2].Ready < 0 || reps[3].Ready < 0 {
		t.Fatalf("replicas %+v: want both replacements ready", reps)
	}
	if got := replicasOf(r.Endpoints().List()); !cmp.Equal(got, []int32{2, 3}) {
		t.Errorf("endpoints after Roll: %v, want [2 3]", got)
	}
}
