package scenario

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// fakeKubectl stands in for kubectl (no cluster here): it records its
// arguments, answers the selector and pod queries from files, and on
// `rollout restart` replaces the pod list by one where the old pod is
// still terminating for two more polls.
const fakeKubectl = `#!/bin/sh
echo "$*" >> "$FAKE/calls"
[ "$1" = "-n" ] && shift 2
case "$1 $2" in
"get deployment/api") printf '{"tier":"web","app":"api"}' ;;
"get deployment/missing") echo 'Error from server (NotFound): deployments.apps "missing" not found' >&2; exit 1 ;;
"get pods")
	if [ -f "$FAKE/polls" ]; then
		n=$(cat "$FAKE/polls")
		if [ "$n" = 0 ]; then echo "api-new-1 api-new-2" > "$FAKE/pods"; else echo $((n-1)) > "$FAKE/polls"; fi
	fi
	cat "$FAKE/pods" ;;
"rollout restart") echo "deployment.apps/api restarted"; echo "api-new-1 api-old-2" > "$FAKE/pods"; echo 2 > "$FAKE/polls" ;;
"rollout status") echo 'deployment "api" successfully rolled out' ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac
`

func installFakeKubectl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pods"), []byte("api-old-1 api-old-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE", dir)
	return dir
}

func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestKubeRollout: --rollout deployment/NAME restarts it, waits for
// rollout status and then until every pod from before the restart is
// gone; the load runs throughout and ends Settle after.
func TestKubeRollout(t *testing.T) {
	dir := installFakeKubectl(t)
	srv, _ := countingServer(t)
	var out bytes.Buffer
	run, err := ExecuteTarget(context.Background(), TargetSpec{
		URL:     srv.URL + "/",
		Load:    load.Config{Rate: 200, Idle: -1, HalfSent: -1, SlowBody: -1},
		Rollout: &KubeRollout{Ref: "deployment/api", Namespace: "prod", Poll: 20 * time.Millisecond},
		Warmup:  100 * time.Millisecond, Settle: 100 * time.Millisecond,
		Output: &out,
	})
	if err != nil || run.DuringErr != nil {
		t.Fatalf("ExecuteTarget: %v, rollout: %v\n%s", err, run.DuringErr, out.String())
	}
	calls, err := os.ReadFile(filepath.Join(dir, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	sel := "get pods -l app=api,tier=web -o jsonpath={.items[*].metadata.name}"
	want := []string{
		"-n prod get deployment/api -o jsonpath={.spec.selector.matchLabels}",
		"-n prod " + sel, // before any load: the workload has pods
		"-n prod " + sel, // the old pods, just before the restart
		"-n prod rollout restart deployment/api",
		"-n prod rollout status deployment/api --timeout=10m0s",
		"-n prod " + sel, // api-old-2 still terminating
		"-n prod " + sel,
		"-n prod " + sel, // gone
	}
	if got := strings.Split(strings.TrimSpace(string(calls)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubectl calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "deployment \"api\" successfully rolled out") || !strings.Contains(out.String(), "its 2 old pods gone") {
		t.Errorf("output lacks kubectl's story:\n%s", out.String())
	}
	if run.DuringStart < 100*time.Millisecond || run.Duration < run.DuringEnd+100*time.Millisecond {
		t.Errorf("rollout %v to %v, run %v: want it after the warmup and the settle after it", run.DuringStart, run.DuringEnd, run.Duration)
	}
	if len(run.Warnings) != 0 {
		t.Errorf("warnings: %v", run.Warnings)
	}
	last := run.Results[len(run.Results)-1]
	if last.Intended < run.DuringEnd {
		t.Errorf("last request at %v, before the rollout ended at %v", last.Intended, run.DuringEnd)
	}
}

// TestKubeRolloutPrepare: a workload that cannot be rolled is found
// before any load: nothing but the pre-flight request reached the target.
func TestKubeRolloutPrepare(t *testing.T) {
	installFakeKubectl(t)
	srv, n := countingServer(t)
	for _, tc := range []struct {
		ref, want string
		path      string
	}{
		{"deployment/missing", `deployments.apps "missing" not found`, ""},
		{"deployment/api", "executable file not found", t.TempDir()},
	} {
		if tc.path != "" {
			t.Setenv("PATH", tc.path)
		}
		n.Store(0)
		_, err := ExecuteTarget(context.Background(), TargetSpec{
			URL: srv.URL + "/", Load: load.Config{Rate: 100}, Rollout: &KubeRollout{Ref: tc.ref},
		})
		if !errors.Is(err, ErrKube) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrKube with %q", tc.ref, err, tc.want)
		}
		if n.Load() > 1 {
			t.Errorf("%s: %d requests reached the target", tc.ref, n.Load())
		}
	}
}
