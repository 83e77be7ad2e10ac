package main

import (
	"errors"
	"testing"

	"github.com/drainhttp/drain/cmd/drain/internal/router"
)

// routerMode runs drain test behind a real router: two replicas replaced,
// the library's default lame duck (5 s, which covers the routers' update
// lag: docs/routers.md). CI installs the routers (.ci/run); elsewhere a
// missing one skips, naming its install script.
func routerMode(t *testing.T, name, mode string, extra ...string) (summary, int) {
	t.Helper()
	if _, err := router.New(name, router.Options{}); errors.Is(err, router.ErrNotInstalled) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"test", "--json", "--router", name, "--rate", "400", "--conns", "16", "--warmup", "500ms", "--settle", "300ms"}, extra...)
	args = append(args, "--", drainBin, "hello", "--shutdown", mode)
	out, stderr, code := run(t, args...)
	return parseSummary(t, out, stderr, code), code
}

// routerFailures counts the requests the router itself failed: it answered
// 502, 503 or 504, or timed out reaching a replica.
func routerFailures(s summary) int {
	return s.Outcomes["502"] + s.Outcomes["503"] + s.Outcomes["504"] + s.Outcomes["timeout"]
}

func TestRouterDrainModeLosesNothing(t *testing.T) {
	for _, name := range router.Names() {
		t.Run(name, func(t *testing.T) {
			s, code := routerMode(t, name, "drain")
			if name == router.Caddy {
				// Caddy applies each upstream change as a new
				// configuration and closes the client connections of
				// the old one: a request on such a connection ends in
				// EOF or RST, Caddy's doing, not the replica's
				// (docs/routers.md). Nothing else may be lost.
				if other := s.Lost - s.Outcomes["eof"] - s.Outcomes["reset"]; other != 0 {
					t.Errorf("behind caddy, drain mode lost %d besides Caddy's reload closes (%v), exit %d", other, s.Outcomes, code)
				}
				return
			}
			if s.Lost != 0 || code != 0 {
				t.Errorf("behind %s, drain mode lost %d (%v), exit %d", name, s.Lost, s.Outcomes, code)
			}
		})
	}
}

// TestRouterStdlibModeLoses: net/http's Shutdown at SIGTERM (the
// background's Go example) behind each router loses, exit 1. Behind nginx
// the harm is mostly a stall: nginx retries a refused connection on
// another replica (any method: nothing was sent) and a connection to the
// exited replica after its 5 s connect timeout, so requests are held for
// seconds (docs/routers.md); the latency objective (--max-latency, 2 s by
// default) counts them as lost, outcome slow.
func TestRouterStdlibModeLoses(t *testing.T) {
	for _, name := range router.Names() {
		t.Run(name, func(t *testing.T) {
			s, code := routerMode(t, name, "stdlib")
			if name == router.Nginx && s.Outcomes["slow"] == 0 {
				t.Errorf("behind nginx, stdlib mode had no answer later than --max-latency (%v, p99 %.3fs): expected requests stalled for seconds", s.Outcomes, s.Latency.P99)
			}
			if s.Lost == 0 || code != 1 {
				t.Errorf("behind %s, stdlib mode lost %d (%v), exit %d: expected losses", name, s.Lost, s.Outcomes, code)
			}
			if name == router.Caddy && routerFailures(s) == 0 {
				t.Errorf("behind caddy, stdlib mode lost only to Caddy's reload closes (%v): expected the router to fail reaching a stopped replica", s.Outcomes)
			}
		})
	}
}
