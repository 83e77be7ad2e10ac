package scenario

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// TestNetworkSpec: a network or latency the run cannot have is a setup
// error before anything starts.
func TestNetworkSpec(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string // "" for valid
	}{
		{Spec{}, ""},
		{Spec{Network: NetworkModel}, ""},
		{Spec{Network: NetworkKernel, Latency: 5 * time.Millisecond, Jitter: time.Millisecond}, ""},
		{Spec{Network: "cloud"}, `network "cloud"`},
		{Spec{Latency: time.Millisecond}, "need the kernel network"},
		{Spec{Network: NetworkModel, Jitter: time.Millisecond}, "need the kernel network"},
		{Spec{Network: NetworkKernel, Latency: -time.Millisecond}, "negative latency"},
	} {
		err := checkNetwork(tc.spec)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.spec, err)
			}
			continue
		}
		if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrSetup with %q", tc.spec, err, tc.want)
		}
	}
	// Execute checks before it starts anything.
	_, err := Execute(context.Background(), Spec{Plan: rollout.Plan{Command: []string{"true"}}, Network: "cloud"})
	if !errors.Is(err, ErrSetup) {
		t.Errorf("Execute with a bad network: %v, want ErrSetup", err)
	}
}
