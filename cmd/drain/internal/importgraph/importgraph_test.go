// Package importgraph holds the test that keeps the project's data flow one
// way (docs/architecture.md): the library imports nothing of the tool, the
// producers (rollout, netpath, endpoint) know nothing of the load client, the
// load client knows nothing of processes, and the servers (hello, proxy) use
// the library like any user would.
package importgraph

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	library = "github.com/drainhttp/drain"
	tool    = library + "/cmd/drain"
)

// deps lists the packages pkg imports, directly or not (tests excluded),
// as the go command resolves them in this workspace.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

func TestLibraryImportsOnlyStdlibAndX(t *testing.T) {
	for _, d := range deps(t, library) {
		if d == library || strings.HasPrefix(d, "golang.org/x/") {
			continue
		}
		t.Errorf("the library imports %s: it may import only the standard library and golang.org/x/...", d)
	}
}

func TestOneWayDataFlow(t *testing.T) {
	in := func(p string) string { return tool + "/internal/" + p }
	forbidden := map[string][]string{
		// Producers of endpoints and events do not lean on their consumer.
		"endpoint": {"load", "rollout", "netpath", "scenario", "report"},
		"rollout":  {"load", "netpath", "scenario", "report"},
		"netpath":  {"load", "rollout", "scenario", "report"},
		// A router follows the rollout's events; it knows nothing of the
		// load client that dials it.
		"router": {"load", "netpath", "scenario", "report", "hello", "proxy"},
		// The load client knows nothing of processes or of the report.
		"load": {"rollout", "netpath", "scenario", "report", "hello", "proxy"},
		// The report reads []Result and []Event and nothing that runs.
		"report": {"scenario", "netpath", "hello", "proxy"},
		// Servers use the library like any user would.
		"hello": {"load", "rollout", "netpath", "scenario", "report", "proxy"},
		"proxy": {"load", "rollout", "netpath", "scenario", "report", "hello"},
	}
	for pkg, bad := range forbidden {
		got := deps(t, in(pkg))
		for _, b := range bad {
			if slices.Contains(got, in(b)) {
				t.Errorf("%s imports %s (directly or not); the data flow is one way: see docs/architecture.md", pkg, b)
			}
		}
	}
}
