package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// startHello runs drain hello as a real process and returns its URL and pid.
func startHello(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := osexec.Command(drainBin, append([]string{"hello", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	// "hello-rest listening on http://127.0.0.1:PORT (shutdown=...)"
	f := strings.Fields(line)
	if len(f) < 4 {
		t.Fatalf("unexpected first line %q", line)
	}
	return f[3] + "/", cmd.Process.Pid
}

func TestTargetDuringLoadsARunningService(t *testing.T) {
	url, _ := startHello(t, "--shutdown", "drain")
	out, stderr, code := run(t, "test", "--json", "--target", url, "--during", "sleep 0.3", "--rate", "200", "--warmup", "300ms", "--settle", "200ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Sent < 100 || s.Lost != 0 {
		t.Errorf("sent %d lost %d", s.Sent, s.Lost)
	}
	if s.Kinds["idle"].Sent == 0 || s.Kinds["halfsent"].Sent == 0 {
		t.Errorf("hard cases not exercised around --during: %+v", s.Kinds)
	}
	if !strings.Contains(stderr, "--during ran from") {
		t.Errorf("stderr lacks the --during timing:\n%s", stderr)
	}
}

// TestTargetDuringSeesAStdlibShutdown: --during sends the service SIGTERM;
// the background's Go example loses requests, and the report says so.
func TestTargetDuringSeesAStdlibShutdown(t *testing.T) {
	url, pid := startHello(t, "--shutdown", "stdlib")
	out, stderr, code := run(t, "test", "--json", "--target", url, "--during", fmt.Sprintf("kill -TERM %d", pid), "--rate", "200", "--warmup", "300ms", "--settle", "300ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (lost)\n%s\n%s", code, out, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Outcomes["refused"] == 0 {
		t.Errorf("no refused requests after the service exited: %v", s.Outcomes)
	}
}

func TestTargetUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "--target", "ftp://x/", "--duration", "1s"}, "use an http:// or https:// URL"},
		{[]string{"test", "--target", "http://127.0.0.1:1/"}, "give --duration, or --during"},
		{[]string{"test", "--target", "http://127.0.0.1:1/", "--", "x"}, "exclude each other"},
		{[]string{"test", "--during", "true", "--", "x"}, "--during needs --target"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestTargetArmAfter: with --arm-after the hard cases go on the wire when
// the SIGTERM inside --during comes, so a stdlib service loses them.
func TestTargetArmAfter(t *testing.T) {
	url, pid := startHello(t, "--shutdown", "stdlib")
	during := fmt.Sprintf("sleep 0.5; kill -TERM %d; sleep 0.5", pid)
	out, stderr, code := run(t, "test", "--json", "--target", url, "--during", during, "--arm-after", "400ms",
		"--idle-after", "300ms", "--rate", "200", "--warmup", "300ms", "--settle", "300ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if hs := s.Kinds["halfsent"]; hs.Sent == 0 || hs.Survived != 0 {
		t.Errorf("half-sent across the SIGTERM: %+v, want all lost", hs)
	}
}

// TestTargetArmOnUsage: --arm-on's bad uses are refused before any work.
func TestTargetArmOnUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no during", []string{"--duration", "1s", "--arm-on", "Terminating"}, "it needs --during CMD"},
		{"kube rollout", []string{"--rollout", "deployment/api", "--arm-on", "Terminating"}, "it needs --during CMD"},
		{"with arm-after", []string{"--during", "true", "--arm-on", "Terminating", "--arm-after", "1s"}, "--arm-on and --arm-after exclude each other"},
		{"empty", []string{"--during", "true", "--arm-on", ""}, "--arm-on '': give the string"},
		{"line break", []string{"--during", "true", "--arm-on", "a\nb"}, "without line breaks"},
	} {
		args := append([]string{"test", "--target", "http://127.0.0.1:1/"}, tc.args...)
		_, stderr, code := run(t, args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, stderr, tc.want)
		}
	}
}

// TestTargetArmOn: with --arm-on the hard cases are played out from the
// moment --during prints the line (here 1.2 s in, just before its SIGTERM),
// not from its start: a stdlib service loses the half-sent ones, and no
// hard-case request ended before the line.
func TestTargetArmOn(t *testing.T) {
	url, pid := startHello(t, "--shutdown", "stdlib")
	results := filepath.Join(t.TempDir(), "results.jsonl")
	during := fmt.Sprintf("sleep 1.2; echo 'pod/hello-1 Terminating'; sleep 0.1; kill -TERM %d; sleep 0.6", pid)
	out, stderr, code := run(t, "test", "--json", "--results", results, "--target", url, "--during", during, "--arm-on", "Terminating",
		"--idle-after", "300ms", "--rate", "200", "--warmup", "300ms", "--settle", "300ms", "--quiet", "-1")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if hs := s.Kinds["halfsent"]; hs.Sent == 0 || hs.Survived != 0 {
		t.Errorf("half-sent across the SIGTERM: %+v, want all lost", hs)
	}
	var start, end, played float64
	if _, err := fmt.Sscanf(stderr[strings.Index(stderr, "drain: --during ran from"):], "drain: --during ran from %fs to %fs", &start, &end); err != nil {
		t.Fatalf("no --during timing in stderr: %v\n%s", err, stderr)
	}
	i := strings.Index(stderr, "drain: hard cases played out from ")
	if i < 0 {
		t.Fatalf("stderr does not say when the hard cases were played out:\n%s", stderr)
	}
	if _, err := fmt.Sscanf(stderr[i:], "drain: hard cases played out from %fs", &played); err != nil {
		t.Fatal(err)
	}
	if played-start < 1.2 || played-start > 1.3+0.5 {
		t.Errorf("played out %.3fs after --during started, want just after its line at 1.2s", played-start)
	}
	b, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	hard := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Done int64  `json:"done_ns"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		switch r.Kind {
		case "idle", "halfsent", "slowbody":
			hard++
			if at := float64(r.Done) / 1e9; at < start+1.2 {
				t.Errorf("%s request ended at %.3fs, before --during's line (%.3fs)", r.Kind, at, start+1.2)
			}
		}
	}
	if hard == 0 {
		t.Error("no hard-case requests in the results")
	}
}

// TestTargetArmOnNoLine: a line that never comes plays no hard case out,
// and the run says so.
func TestTargetArmOnNoLine(t *testing.T) {
	url, _ := startHello(t, "--shutdown", "drain")
	out, stderr, code := run(t, "test", "--json", "--target", url, "--during", "echo started; sleep 0.3", "--arm-on", "Terminating",
		"--rate", "200", "--warmup", "300ms", "--settle", "200ms", "--quiet", "-1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"idle", "halfsent", "slowbody"} {
		if s.Kinds[k].Sent != 0 {
			t.Errorf("%s played out though the line never came: %+v", k, s.Kinds[k])
		}
	}
	if !strings.Contains(stderr, `--arm-on "Terminating": no line of --during's output contained it`) {
		t.Errorf("no warning that the hard cases were not played out:\n%s", stderr)
	}
}
