package kube

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var scripts = []string{"build", "down", "inventory", "lib.sh", "measure", "rollout", "table", "timeline", "up", "variants"}

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
		if !strings.Contains(d, "args: "+w.args) {
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
