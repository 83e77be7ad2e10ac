package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// backend is a replica stand-in that answers its name.
func backend(t *testing.T, name string) int {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return p
}

// TestRouterFollowsEndpoints runs each installed router with backend a,
// replaces a by b the way a rollout does (b added, then a removed), and
// checks the router sends every request to b within its controller's lag
// (and, for the paced ones, not at once), through its own update path.
func TestRouterFollowsEndpoints(t *testing.T) {
	lag := map[string]time.Duration{
		Nginx:   nginxSyncInterval + time.Second, // rate limit + the Lua timer
		HAProxy: haproxySyncPeriod,
		Caddy:   0,
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := New(name, Options{ProbePath: "/"})
			if errors.Is(err, ErrNotInstalled) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			a, b := backend(t, "a"), backend(t, "b")
			r.OnEvent(rollout.Event{Kind: rollout.EndpointAdded, Replica: 0, Port: a})
			ctx := context.Background()
			if err := r.Start(ctx); err != nil {
				r.Close()
				t.Fatal(err)
			}
			defer func() {
				if err := r.Close(); err != nil {
					t.Error(err)
				}
			}()
			// A new connection each: HAProxy keeps a client connection
			// on the server connection it used, also after its slot
			// got a new address (docs/routers.md).
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			get := func() string {
				resp, err := client.Get("http://" + r.Addr() + "/")
				if err != nil {
					return err.Error()
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return fmt.Sprintf("%s", body)
			}
			if got := get(); got != "a" {
				t.Fatalf("before the change: %q, want a", got)
			}
			changed := time.Now()
			r.OnEvent(rollout.Event{Kind: rollout.EndpointAdded, Replica: 1, Port: b})
			r.OnEvent(rollout.Event{Kind: rollout.EndpointRemoved, Replica: 0, Port: a})
			deadline := changed.Add(lag[name] + 2*time.Second)
			var onlyB time.Time
			for run := 0; time.Now().Before(deadline); {
				if get() == "b" {
					run++
				} else {
					run = 0
				}
				if run == 20 { // every worker and slot: only b now
					onlyB = time.Now()
					break
				}
			}
			if onlyB.IsZero() {
				t.Fatalf("still not only b %v after the change (syncs %+v)", lag[name]+2*time.Second, r.Syncs())
			}
			syncs := r.Syncs()
			last := syncs[len(syncs)-1]
			if len(last.Endpoints) != 1 || last.Endpoints[0].Replica != 1 || last.Err != nil {
				t.Errorf("last sync %+v: want replica 1 alone", last)
			}
			t.Logf("%s: only b %v after the change", name, onlyB.Sub(changed).Round(time.Millisecond))
		})
	}
}
