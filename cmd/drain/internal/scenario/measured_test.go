package scenario

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// TestMeasured: the events of the replicas rolled (the originals) are all
// kept; of a replacement, its start, readiness and endpoint addition (the
// report needs it to end a span without endpoints), not its removal and
// SIGTERM at Stop.
func TestMeasured(t *testing.T) {
	events := []rollout.Event{
		{At: 1, Replica: 0, Kind: rollout.EndpointAdded},
		{At: 2, Replica: 1, Kind: rollout.Started},
		{At: 3, Replica: 0, Kind: rollout.EndpointRemoved},
		{At: 4, Replica: 0, Kind: rollout.FallbackAdded},
		{At: 5, Replica: 1, Kind: rollout.Ready},
		{At: 6, Replica: 1, Kind: rollout.EndpointAdded},
		{At: 7, Replica: 0, Kind: rollout.Exited},
		{At: 8, Replica: 1, Kind: rollout.EndpointRemoved},
		{At: 9, Replica: 1, Kind: rollout.SIGTERM},
		{At: 10, Replica: 1, Kind: rollout.Exited},
	}
	reps := []rollout.ReplicaReport{{Replica: 0, Original: true}, {Replica: 1}}
	got := measured(events, reps, -1)
	if d := cmp.Diff(events[:7], got); d != "" {
		t.Errorf("measured (-want +got):\n%s", d)
	}
}
