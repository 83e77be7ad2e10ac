package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
)

// The kernel network path end to end (--network=kernel): the same runs as
// the model's, through a namespace, an nftables Service and conntrack, and
// after each, nothing of it left. These need root, ip and nft.

func TestNetworkUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"test", "--network", "cloud", "--", "x"}, `--network "cloud": use model or kernel`},
		{[]string{"test", "--latency", "5ms", "--", "x"}, "--latency and --jitter need --network=kernel"},
		{[]string{"test", "--jitter", "1ms", "--", "x"}, "--latency and --jitter need --network=kernel"},
		{[]string{"test", "--network=kernel", "--latency", "-1ms", "--", "x"}, "need durations >= 0"},
		{[]string{"compare", "--latency-sweep", "0,5ms"}, "--latency-sweep needs --network=kernel"},
		{[]string{"compare", "--network=kernel", "--latency", "1ms", "--latency-sweep", "0,5ms"}, "not both"},
		{[]string{"compare", "--network=kernel", "--latency-sweep", "0,fast"}, `"fast" is not a duration`},
		{[]string{"compare", "--network=kernel", "--latency-sweep", "5ms,5ms"}, "5ms given twice"},
		{[]string{"compare", "--sweep-chart", "x.svg"}, "--sweep-chart needs --latency-sweep"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want 2 with %q; stderr:\n%s", code, tc.stderr, stderr)
			}
		})
	}
}

// needKernelPath skips the test without root or without the tools the
// kernel path runs (ip from Debian's iproute2, nft from nftables), naming
// the install command; .ci/run installs them, so CI runs these tests.
func needKernelPath(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("--network=kernel needs root")
	}
	for _, tool := range [][2]string{{"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := osexec.LookPath(tool[0]); err != nil {
			t.Skipf("%s not found: apt-get install %s", tool[0], tool[1])
		}
	}
	t.Cleanup(func() { assertPathGone(t) })
}

// ourNamespaces lists the namespaces this process created and left:
// netpath names them "drain-<pid>-<n>".
func ourNamespaces(t *testing.T) []string {
	t.Helper()
	out, err := osexec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	var ours []string
	prefix := fmt.Sprintf("drain-%d-", os.Getpid())
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix) {
			ours = append(ours, name)
		}
	}
	return ours
}

// assertPathGone checks that a run left nothing: no namespace of this
// process (its nftables table and relays lived in it), no nftables table
// in the host's namespace, no child process.
func assertPathGone(t *testing.T) {
	t.Helper()
	if ns := ourNamespaces(t); len(ns) > 0 {
		t.Errorf("namespaces left: %v", ns)
		for _, n := range ns {
			rules, _ := osexec.Command("ip", "netns", "exec", n, "nft", "list", "tables").CombinedOutput()
			pids, _ := osexec.Command("ip", "netns", "pids", n).CombinedOutput()
			t.Errorf("in %s: nft tables:\n%s\npids: %s", n, rules, pids)
			osexec.Command("ip", "netns", "delete", n).Run()
		}
	}
	out, err := osexec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Errorf("nft list tables: %v\n%s", err, out)
	}
	// netpath's Service tables are named drain_svc_<port>; other tables
	// (a local Kubernetes harness's, say) are not ours to judge.
	if strings.Contains(string(out), "drain_svc_") {
		t.Errorf("nftables tables in the host's namespace:\n%s", out)
	}
	if c := child.Children(); len(c) > 0 {
		t.Errorf("child processes left: %v", c)
	}
}

func TestKernelDrainLosesNothing(t *testing.T) {
	needKernelPath(t)
	s, code := testMode(t, "drain", "--network=kernel")
	if s.Lost != 0 || code != 0 {
		t.Errorf("drain mode on the kernel path lost %d (%v), exit %d", s.Lost, s.Outcomes, code)
	}
	for _, k := range []string{"idle", "halfsent", "slowbody"} {
		if s.Kinds[k].Sent == 0 {
			t.Errorf("hard case %s never exercised", k)
		}
	}
	assertPathGone(t)
}

func TestKernelStdlibLoses(t *testing.T) {
	needKernelPath(t)
	// No --latency: through a relay, a refused connection shows as a reset
	// (the relay accepts, then finds the replica's listener closed).
	s, code := testMode(t, "stdlib", "--network=kernel")
	if s.Lost == 0 || code != 1 {
		t.Fatalf("stdlib mode on the kernel path lost %d, exit %d: expected losses", s.Lost, code)
	}
	// The Service still sends new connections to the replica until the
	// endpoint removal reaches nftables; its closed listener refuses them.
	if s.Outcomes["refused"] == 0 {
		t.Errorf("no refused connections: %v", s.Outcomes)
	}
	assertPathGone(t)
}

// TestKernelCancelCleansUp cancels a run (what Ctrl-C does through
// main's signal.NotifyContext) once the rollout has begun: the replicas are
// reaped and the namespace deleted before exec returns.
func TestKernelCancelCleansUp(t *testing.T) {
	needKernelPath(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- exec(ctx, []string{"test", "--network=kernel", "--latency", "1ms", "--rate", "200", "--warmup", "200ms",
			"--", drainBin, "hello", "--shutdown", "drain"}, strings.NewReader(""), &stdout, &stderr)
	}()
	// The rollout has begun (the load runs since the originals were
	// ready) once a third replica runs in the namespace: the two originals
	// plus the first replacement.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for replicas := 0; replicas < 3; {
		select {
		case err := <-done:
			t.Fatalf("run ended before it was cancelled: %v\n%s", err, stderr.String())
		case <-tick.C:
		}
		replicas = 0
		for _, ns := range ourNamespaces(t) {
			out, _ := osexec.Command("ip", "netns", "pids", ns).Output()
			for _, pid := range strings.Fields(string(out)) {
				cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				if bytes.Contains(cmdline, []byte("hello\x00--shutdown")) {
					replicas++
				}
			}
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("exec: %v, want context.Canceled\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exec did not return within 30s of the cancellation")
	}
	assertPathGone(t)
}

// TestKernelCrashCleansUp: every replica is SIGKILLed by timeout(1) 3 s
// after it starts, so the originals crash during the 4 s warmup, before any
// SIGTERM. (3 s leaves a busy machine time to make them ready first: 0.8 s
// did not, under -race with the CPUs saturated.) Their endpoints leave the Service (the client is refused while
// none is left), the run reports its losses, and nothing of the path is
// left.
func TestKernelCrashCleansUp(t *testing.T) {
	needKernelPath(t)
	timeout, err := osexec.LookPath("timeout")
	if err != nil {
		t.Skip("timeout(1) not found")
	}
	out, stderr, code := run(t, "test", "--json", "--quiet", "-1", "--network=kernel", "--rate", "200", "--warmup", "4s", "--settle", "200ms",
		"--", timeout, "-s", "KILL", "3", drainBin, "hello", "--shutdown", "drain")
	var s struct {
		Lost     int            `json:"lost"`
		Outcomes map[string]int `json:"outcomes"`
		Replicas []struct {
			SIGTERM *float64 `json:"sigterm_seconds"`
			Exit    *float64 `json:"exit_seconds"`
			Signal  string   `json:"signal"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("exit %d, report not JSON: %v\nstdout:\n%s\nstderr:\n%s", code, err, out, stderr)
	}
	if strings.Contains(stderr, "kernel network path") {
		t.Errorf("the path failed: %s", stderr)
	}
	if s.Lost == 0 || code != 1 {
		t.Errorf("crashing replicas lost %d, exit %d: want losses", s.Lost, code)
	}
	if s.Outcomes["refused"] == 0 {
		t.Errorf("no connection refused while the Service had no endpoint: %v", s.Outcomes)
	}
	if len(s.Replicas) < 2 {
		t.Fatalf("%d replicas in the report", len(s.Replicas))
	}
	for i, r := range s.Replicas[:2] {
		if r.SIGTERM != nil || r.Exit == nil || r.Signal != "SIGKILL" {
			t.Errorf("original replica %d: sigterm %v, exit %v, signal %q; want a crash (SIGKILL) before any SIGTERM", i, r.SIGTERM, r.Exit, r.Signal)
		}
	}
	assertPathGone(t)
}

// TestKernelLatencySweep runs the README's sweep, shortened: the drain mode
// loses nothing at any latency, the immediate hang-up loses at every one
// (its idle connections at least), rows are labelled with the latency and
// the chart is written. The 1.5 s preStop covers a 300 ms propagation
// without kube-proxy's sync batching (--sync-period 0), which can hold a
// removal up to a second longer, with 1.2 s to spare for a busy machine's
// nft updates (500 ms lost 24 requests under -race with the CPUs saturated).
func TestKernelLatencySweep(t *testing.T) {
	needKernelPath(t)
	selfExe = func() (string, error) { return drainBin, nil }
	chart := filepath.Join(t.TempDir(), "sweep.svg")
	out, stderr, code := run(t, "compare", "--json", "--quiet", "-1", "--network=kernel", "--latency-sweep", "0,5ms", "--sweep-chart", chart,
		"--modes", "drain,immediate", "--pod-env=false", "--prestop", "1500ms", "--propagation", "300ms", "--sync-period", "0", "--rate", "300", "--warmup", "500ms", "--settle", "300ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var cmp struct {
		Rows []struct {
			Strategy string `json:"strategy"`
			Sent     int    `json:"sent"`
			Lost     int    `json:"lost"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &cmp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lost := map[string]int{}
	for _, r := range cmp.Rows {
		if r.Sent == 0 {
			t.Errorf("%s: nothing sent", r.Strategy)
		}
		lost[r.Strategy] = r.Lost
	}
	for _, want := range []string{"drain @0ms", "drain @5ms", "immediate @0ms", "immediate @5ms"} {
		if _, ok := lost[want]; !ok {
			t.Errorf("no row %q: %v", want, lost)
		}
	}
	if lost["drain @0ms"] != 0 || lost["drain @5ms"] != 0 {
		t.Errorf("drain lost requests: %v", lost)
	}
	if lost["immediate @0ms"] == 0 || lost["immediate @5ms"] == 0 {
		t.Errorf("the immediate hang-up lost nothing: %v", lost)
	}
	svg, err := os.ReadFile(chart)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("immediate")) {
		t.Errorf("chart: %v, %.80q", err, svg)
	}
	assertPathGone(t)
}
