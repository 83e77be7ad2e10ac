package rollout

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestFreePortBelowEphemeralRange: replica ports are picked where the
// kernel never picks one for an outgoing connection (the load client opens
// thousands while replicas start) or a ":0" listener, so none of those can
// take a replica's port between the pick and the replica's bind.
func TestFreePortBelowEphemeralRange(t *testing.T) {
	lo, _ := portRange()
	ephemeral := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			ephemeral, _ = strconv.Atoi(f[0])
		}
	}
	used := map[int]bool{}
	for range 50 {
		port, err := freePort(used)
		if err != nil {
			t.Fatal(err)
		}
		if port < lo || port >= ephemeral {
			t.Fatalf("port %d; want one in [%d, %d), below the ephemeral range", port, lo, ephemeral)
		}
	}
	if len(used) != 50 {
		t.Errorf("%d distinct ports in 50 picks", len(used))
	}
}
