package netpath

import (
	"bufio"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// TestPath: Add and Remove drive the Service through relays; Close leaves
// no namespace behind.
func TestPath(t *testing.T) {
	needRoot(t)
	before := ownNetns(t)
	const d = 5 * time.Millisecond
	p, err := NewPath("", Latency{Delay: d})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			p.Close()
		}
	}()
	a, b := twoServers(t, p.Namespace())
	if err := p.Add(a); err != nil {
		t.Fatal(err)
	}
	old, oldR, replica := dialVIP(t, p.Service())
	start := time.Now()
	if got := ask(t, old, oldR); got != "a" || replica != 0 {
		t.Fatalf("reached %q (replica %d), want a (0)", got, replica)
	}
	if rtt := time.Since(start); rtt < 2*d {
		t.Errorf("round trip %v, want >= %v through the relay", rtt, 2*d)
	}
	if err := p.Add(b); err != nil {
		t.Fatal(err)
	}
	if addr, ok := p.Addr(0); !ok || addr == a.Addr {
		t.Errorf("Addr(0) = %q, %v; want the relay's address, not the replica's %s", addr, ok, a.Addr)
	}
	if ok, err := p.Remove(0); !ok || err != nil {
		t.Fatalf("Remove(0) = %v, %v", ok, err)
	}
	if ok, _ := p.Remove(0); ok {
		t.Error("second Remove(0) reported an endpoint")
	}
	for range 3 {
		c, r, replica := dialVIP(t, p.Service())
		if got := ask(t, c, r); got != "b" || replica != 1 {
			t.Errorf("new connection reached %q (replica %d), want b (1)", got, replica)
		}
		c.Close()
	}
	if got := ask(t, old, oldR); got != "a" {
		t.Errorf("established connection moved to %q", got)
	}
	if addr, ok := p.Addr(0); ok { // removed, relay still up: a new connection to it reaches a
		c, err := p.DialContext(testCtx(t), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if got := ask(t, c, r); got != "a" {
			t.Errorf("Addr(0) after Remove reached %q, want a", got)
		}
		c.Close()
	} else {
		t.Error("Addr(0) forgotten after Remove")
	}
	if _, ok := p.Addr(9); ok {
		t.Error("Addr(9) of a replica never added: ok")
	}
	// Replica 1's address gone: through the VIP (only b left) and to its
	// relay, a new connection goes unanswered.
	if ok, err := p.Blackhole(1); !ok || err != nil {
		t.Fatalf("Blackhole(1) = %v, %v", ok, err)
	}
	if ok, _ := p.Blackhole(9); ok {
		t.Error("Blackhole(9) of a replica never added: ok")
	}
	assertUnanswered(t, func(ctx context.Context) error {
		c, _, err := p.Service().Dial(ctx, endpoint.Endpoint{Addr: DefaultVIP, Replica: -1})
		if err == nil {
			c.Close()
		}
		return err
	})
	old.Close()
	closed = true
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Add(a); err == nil {
		t.Error("Add after Close succeeded")
	}
	if after := ownNetns(t); !slices.Equal(before, after) {
		t.Errorf("ip netns list: before %q, after %q", before, after)
	}
}
