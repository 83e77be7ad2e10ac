package main

import (
	"errors"
	"testing"

	"github.com/drainhttp/drain/cmd/drain/internal/router"
)

// routerMode runs drain test behind a real router: one replica replaced,
// the library's default lame duck (its 5 s covers the routers' update lag,
// docs/routers.md). CI installs the routers (.ci/run); elsewhere a missing
// one skips, naming its install script.
func routerMode(t *testing.T, name, mode string, extra ...string) (summary, int) {
	t.Helper()
	if _, err := router.New(name, router.Options{}); errors.Is(err, router.ErrNotInstalled) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"test", "--json", "--router", name, "--replicas", "1", "--rate", "400", "--conns", "16", "--warmup", "500ms", "--settle", "300ms"}, extra...)
	args = append(args, "--", drainBin, "hello", "--shutdown", mode)
	out, stderr, code := run(t, args...)
	return parseSummary(t, out, stderr, code), code
}

func TestRouterDrainModeLosesNothing(t *testing.T) {
	for _, name := range router.Names() {
		t.Run(name, func(t *testing.T) {
			s, code := routerMode(t, name, "drain")
			if s.Lost != 0 || code != 0 {
				t.Errorf("behind %s, drain mode lost %d (%v), exit %d", name, s.Lost, s.Outcomes, code)
			}
		})
	}
}

func TestRouterStdlibModeLoses(t *testing.T) {
	for _, name := range router.Names() {
		t.Run(name, func(t *testing.T) {
			s, code := routerMode(t, name, "stdlib")
			if s.Lost == 0 || code != 1 {
				t.Errorf("behind %s, stdlib mode lost %d (%v), exit %d: expected losses", name, s.Lost, s.Outcomes, code)
			}
		})
	}
}
