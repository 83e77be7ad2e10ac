package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
				return string(body)
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

// takenPort makes freePort hand out a port this test holds (a listener
// that never accepts, as another process's would be) for its first n
// calls, then free ones: the port is taken between drain picking it and
// the router binding it. It returns the held port.
func takenPort(t *testing.T, n int) int {
	t.Helper()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	port := held.Addr().(*net.TCPAddr).Port
	orig := freePort
	calls := 0
	freePort = func() (int, error) {
		if calls++; calls <= n {
			return port, nil
		}
		return orig()
	}
	t.Cleanup(func() { freePort = orig })
	return port
}

// TestRouterPortTakenAtStart: the port picked for the router is taken
// before the router binds it (one "caddy exited at start" was seen that
// way); Start starts it again on a fresh port and it serves. The old
// Start failed: "router caddy exited at start (exit status 1)".
func TestRouterPortTakenAtStart(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := New(name, Options{ProbePath: "/"})
			if errors.Is(err, ErrNotInstalled) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			held := takenPort(t, 1)
			r.OnEvent(rollout.Event{Kind: rollout.EndpointAdded, Replica: 0, Port: backend(t, "a")})
			if err := r.Start(context.Background()); err != nil {
				r.Close()
				t.Fatal(err)
			}
			defer func() {
				if err := r.Close(); err != nil {
					t.Error(err)
				}
			}()
			if r.Addr() == "127.0.0.1:"+strconv.Itoa(held) {
				t.Fatalf("router on %s, the port held by the test", r.Addr())
			}
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Get("http://" + r.Addr() + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "a" {
				t.Errorf("through the router: %q, want a", body)
			}
		})
	}
}

// TestRouterPortAlwaysTaken: when every try finds its port taken, Start
// gives up after startTries and says which port and what the router
// said.
func TestRouterPortAlwaysTaken(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := New(name, Options{ProbePath: "/"})
			if errors.Is(err, ErrNotInstalled) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			held := takenPort(t, 1000)
			r.OnEvent(rollout.Event{Kind: rollout.EndpointAdded, Replica: 0, Port: backend(t, "a")})
			err = r.Start(context.Background())
			if err == nil {
				t.Fatal("Start succeeded on a taken port")
			}
			msg := err.Error()
			for _, want := range []string{"router " + name, strconv.Itoa(startTries) + " times", "port " + strconv.Itoa(held), "in use"} {
				if !strings.Contains(strings.ToLower(msg), strings.ToLower(want)) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			t.Log(msg)
		})
	}
}
