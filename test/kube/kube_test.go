package kube

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var scripts = []string{"build", "down", "inventory", "lib.sh", "measure", "requests", "rollout", "table", "timeline", "up", "variants"}

// TestScriptsParse checks every script with bash -n, and that the runnable
// ones stop at the first error (the teardown relies on it).
func TestScriptsParse(t *testing.T) {
	for _, s := range scripts {
		out, err := exec.Command("bash", "-n", s).CombinedOutput()
		if err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if s == "lib.sh" {
			continue
		}
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "set -euo pipefail") {
			t.Errorf("%s lacks set -euo pipefail", s)
		}
		if fi, err := os.Stat(s); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
}

// TestVariants checks the Deployments test/kube/variants derives from
// deploy/kubernetes: each has its name throughout, its shutdown mode, and a
// preStop sleep exactly when it should.
func TestVariants(t *testing.T) {
	out, err := exec.Command("bash", "variants").Output()
	if err != nil {
		t.Fatal(err)
	}
	docs := regexp.MustCompile(`(?m)^---$`).Split(string(out), -1)
	type want struct {
		args    string
		prestop bool
	}
	wants := map[string]want{
		"hello-drain":           {`["hello", "--shutdown=drain", "--addr=:8080"]`, false},
		"hello-stdlib":          {`["hello", "--shutdown=stdlib", "--addr=:8080"]`, true},
		"hello-stdlib-bare":     {`["hello", "--shutdown=stdlib", "--addr=:8080"]`, false},
		"hello-immediate":       {`["hello", "--shutdown=immediate", "--addr=:8080"]`, false},
		"hello-none":            {`["hello", "--shutdown=none", "--addr=:8080"]`, false},
		"hello-drain-prestop":   {`["hello", "--shutdown=drain", "--lame-duck=-1s", "--addr=:8080"]`, true},
		"hello-drain-keepready": {`["hello", "--shutdown=drain", "--ready=through-delay", "--addr=:8080"]`, false},
		"hello-drain-readyfail": {`["hello", "--shutdown=drain", "--ready=until-drain", "--addr=:8080"]`, false},
		"express-exec":          {"", false}, // no args: the image's entrypoint (drain exec -- node server.js)
	}
	seen := map[string]int{}
	nameRE := regexp.MustCompile(`(?m)^  name: (\S+)$`)
	for _, d := range docs {
		m := nameRE.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		name := m[1]
		w, ok := wants[name]
		if !ok {
			t.Errorf("unexpected object %s", name)
			continue
		}
		seen[name]++
		for _, other := range regexp.MustCompile(`hello-[a-z-]+`).FindAllString(d, -1) {
			if other != name {
				t.Errorf("%s mentions %s", name, other)
			}
		}
		if !strings.Contains(d, "kind: Deployment") {
			continue
		}
		if w.args == "" {
			if strings.Contains(d, "args:") || !strings.Contains(d, "image: drain-express:dev") {
				t.Errorf("%s: want the drain-express image with its own entrypoint, no args:\n%s", name, d)
			}
		} else if !strings.Contains(d, "args: "+w.args) {
			t.Errorf("%s: args not %s:\n%s", name, w.args, d)
		}
		if got := strings.Contains(d, "preStop:\n              sleep:\n                seconds: 5"); got != w.prestop {
			t.Errorf("%s: preStop sleep 5 = %v, want %v", name, got, w.prestop)
		}
	}
	for name := range wants {
		if seen[name] != 2 {
			t.Errorf("%s: %d objects, want a Deployment and a Service", name, seen[name])
		}
	}
}

// TestLibPaths checks that lib.sh keeps the cluster's state apart from the
// binary cache (down removes the first, never the second).
func TestLibPaths(t *testing.T) {
	out, err := exec.Command("bash", "-c", `. ./lib.sh; echo "$CACHE"; echo "$STATE"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("lib.sh printed %q", out)
	}
	cache, state := filepath.Clean(lines[0]), filepath.Clean(lines[1])
	if cache == state || strings.HasPrefix(cache, state+"/") || strings.HasPrefix(state, cache+"/") {
		t.Errorf("CACHE %s and STATE %s overlap", cache, state)
	}
}

// stubDrain stands in for drain test in TestMeasure: it prints a minimal
// JSON report, writes --results, counts its calls and exits with $STUB_RC.
// (measure's job is the bookkeeping around drain test; drain test itself
// is tested in cmd/drain, and a real run takes a cluster or ~20 s of load.)
const stubDrain = `#!/usr/bin/env bash
echo "call $*" >> "$STUB_CALLS"
while [ $# -gt 0 ]; do
  if [ "$1" = --results ]; then echo '{"seq":0}' > "$2"; fi
  shift
done
echo '{"sent": 10, "lost": 1, "outcomes": {"ok": 9, "refused": 1}, "kinds": {"steady": {"sent": 10, "lost": 1}}, "replicas": [{"drain_seconds": 5}]}'
exit "$STUB_RC"
`

// TestMeasure checks measure's exit status (0 when every run produced a
// report, also with lost requests; 1 when a run failed, after all runs),
// where it puts each run: a line in RESULTS/sim-VARIANT.jsonl naming a
// directory of its own with the report and the requests, and that PROTOCOL
// reaches drain test as --protocol and the line as kube.protocol.
func TestMeasure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rc        string
		wantExit  int
		wantLines int
	}{
		{"runs succeed", "0", 0, 2},
		{"runs fail", "1", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			state, results := filepath.Join(dir, "state"), filepath.Join(dir, "results")
			stub := filepath.Join(dir, "drain")
			if err := os.WriteFile(stub, []byte(stubDrain), 0o755); err != nil {
				t.Fatal(err)
			}
			calls := filepath.Join(dir, "calls")
			cmd := exec.Command("bash", "measure", "sim", "hello-drain", "2")
			cmd.Env = append(os.Environ(), "DRAIN_KUBE_STATE="+state, "RESULTS="+results, "DRAIN="+stub, "PROTOCOL=h2c",
				"DRAIN_LOAD_LOCK="+filepath.Join(dir, "lock"), "STUB_RC="+tc.rc, "STUB_CALLS="+calls)
			out, err := cmd.CombinedOutput()
			exit := 0
			if ee, ok := err.(*exec.ExitError); ok {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tc.wantExit {
				t.Errorf("exit %d, want %d\n%s", exit, tc.wantExit, out)
			}
			if b, _ := os.ReadFile(calls); strings.Count(string(b), "call") != 2 || strings.Count(string(b), "--protocol h2c ") != 2 {
				t.Errorf("drain test ran %d times, want 2 (a failed run must not stop the others), each with --protocol h2c:\n%s", strings.Count(string(b), "call"), b)
			}
			b, _ := os.ReadFile(filepath.Join(results, "sim-hello-drain.jsonl"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(b) == 0 {
				lines = nil
			}
			if len(lines) != tc.wantLines {
				t.Fatalf("%d result lines, want %d:\n%s\n%s", len(lines), tc.wantLines, b, out)
			}
			seen := map[string]bool{}
			for _, l := range lines {
				var r struct {
					Kube struct {
						ObservedDir string `json:"observed_dir"`
						Protocol    string `json:"protocol"`
					} `json:"kube"`
				}
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				if r.Kube.Protocol != "h2c" {
					t.Errorf("kube.protocol %q, want h2c", r.Kube.Protocol)
				}
				d := r.Kube.ObservedDir
				if d == "" || seen[d] {
					t.Errorf("observed_dir %q empty or reused", d)
				}
				seen[d] = true
				for _, f := range []string{"report.json", "results.jsonl.gz"} {
					if _, err := os.Stat(filepath.Join(results, d, f)); err != nil {
						t.Errorf("run's %s: %v", f, err)
					}
				}
			}
		})
	}
}
