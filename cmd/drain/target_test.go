package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	osexec "os/exec"
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
