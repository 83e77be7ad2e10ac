package rollout

import (
	"context"
	"fmt"
	"time"
)

// One replica replaced: the load would run against r.Endpoints() meanwhile.
func ExampleRunner() {
	r := New(Plan{
		Command:     []string{server, "-port", "{port}"},
		Replicas:    1,
		Propagation: -1, // the client sees the removal at the deletion moment
		SyncPeriod:  -1, // not batched in kube-proxy-like syncs
		Teardown:    -1, // the exited replica's address keeps refusing
		Warmup:      -1,
		Settle:      -1,
	}, time.Now())
	defer r.Stop()

	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Roll(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range r.Events() {
		fmt.Println(ev.Replica, ev.Kind)
	}
	for _, rep := range r.Replicas() {
		fmt.Printf("replica %d: exit code %d, killed %v\n", rep.Replica, rep.ExitCode, rep.Killed)
	}
	// Output:
	// 0 started
	// 0 ready
	// 0 endpoint_added
	// 1 started
	// 1 ready
	// 1 endpoint_added
	// 0 endpoint_removed
	// 0 sigterm
	// 0 exited
	// replica 0: exit code 0, killed false
	// replica 1: exit code -1, killed false
}
