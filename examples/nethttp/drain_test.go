package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestUnderDrainTest runs this example under `drain test` (the tool of this
// workspace, built here): two replicas rolled with the pod environment (so
// the default Options give a 5 s lame duck) while load runs; none of the
// requests may be lost.
func TestUnderDrainTest(t *testing.T) {
	if testing.Short() {
		t.Skip("a rollout of two replicas takes about 15 s")
	}
	dir := t.TempDir()
	drainBin, example := filepath.Join(dir, "drain"), filepath.Join(dir, "nethttp")
	for bin, pkg := range map[string]string{drainBin: "github.com/drainhttp/drain/cmd/drain", example: "."} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s (needs the workspace, go.work): %v\n%s", pkg, err, out)
		}
	}
	cmd := exec.Command(drainBin, "test", "--json", "--ready-path", "/readyz", "--replicas", "2", "--", example)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var s struct {
		Sent, OK, Lost int
		Outcomes       map[string]int
	}
	if jerr := json.Unmarshal(out, &s); jerr != nil {
		t.Fatalf("drain test: %v; report not JSON: %v\n%s", err, jerr, out)
	}
	if err != nil || s.Lost != 0 || s.Sent == 0 || s.OK != s.Sent {
		t.Errorf("drain test: %v; sent %d ok %d lost %d %v", err, s.Sent, s.OK, s.Lost, s.Outcomes)
	}
	t.Logf("drain test: sent %d, ok %d, lost %d", s.Sent, s.OK, s.Lost)
}
