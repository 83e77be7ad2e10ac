package rollout

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWrapAndDial: Wrap rewrites the argv after the "{port}" substitution
// (here through env, which execs it: the pid is the replica's), error
// messages show the argv before Wrap, and Dial opens every readiness probe,
// HTTP and TCP.
func TestWrapAndDial(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run("TCPReady="+strconv.FormatBool(tcp), func(t *testing.T) {
			var mu sync.Mutex
			var wrapped [][]string
			dials := map[string]int{}
			p := quick()
			p.Replicas = 1
			p.TCPReady = tcp
			p.Wrap = func(argv []string) []string {
				mu.Lock()
				wrapped = append(wrapped, slices.Clone(argv))
				mu.Unlock()
				return append([]string{"env", "DRAIN_WRAPPED=1"}, argv...)
			}
			p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				dials[addr]++
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			r := New(p, time.Time{})
			defer r.Stop()
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			rep := r.Replicas()[0]
			addr := "127.0.0.1:" + strconv.Itoa(rep.Port)
			mu.Lock()
			defer mu.Unlock()
			if want := []string{server, "-port", strconv.Itoa(rep.Port)}; len(wrapped) != 1 || !slices.Equal(wrapped[0], want) {
				t.Errorf("Wrap got %q, want one call with %q", wrapped, want)
			}
			if dials[addr] == 0 || len(dials) != 1 {
				t.Errorf("Dial calls %v, want probes of %s", dials, addr)
			}
			exe, err := os.Readlink("/proc/" + strconv.Itoa(rep.Pid) + "/exe")
			if err != nil || exe != server {
				t.Errorf("pid %d runs %q (%v), want the replica %s: the wrapper must exec", rep.Pid, exe, err, server)
			}
			env, _ := os.ReadFile("/proc/" + strconv.Itoa(rep.Pid) + "/environ")
			if !strings.Contains(string(env), "DRAIN_WRAPPED=1") {
				t.Error("the replica did not run through Wrap's wrapper")
			}
		})
	}

	p := quick("-exit-early", "3")
	p.Replicas = 1
	p.Wrap = func(argv []string) []string { return append([]string{"env"}, argv...) }
	r := New(p, time.Time{})
	err := r.Start(context.Background())
	r.Stop()
	if err == nil || !strings.Contains(err.Error(), `"`+server+` -port`) || strings.Contains(err.Error(), `"env `) {
		t.Errorf("Start: %v; want the error to show the argv before Wrap", err)
	}
	assertNothingLeft(t, pids(r)...)
}
