package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestReplicaExitsOnItsOwn: drain test with a replica that dies by itself
// mid-run (SIGKILL from outside, as the OOM killer does, 1 s into a 2 s
// steady phase; the first of the two to run the script). The report records its exit (signal, no SIGTERM, not
// killed by the rollout), the rollout goes on (its replacement becomes
// ready and serves), and nothing is lost but what was in flight when it
// died: before the fix, the hard cases were set up against its dead
// address and waited out their timeouts there (10 of them lost as timeout,
// the rollout held 11 s, the run blamed on "SIGKILLed after the grace
// period").
func TestReplicaExitsOnItsOwn(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "crashy")
	// The first replica to start kills itself 1 s in; the others serve.
	body := "#!/bin/sh\nif mkdir \"" + filepath.Join(dir, "crashed") + "\" 2>/dev/null; then (sleep 1; kill -9 $$) & fi\n" +
		"exec \"" + drainBin + "\" hello --shutdown drain --delay 0.005\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "test", "--json", "--quiet", "-1", "--rate", "200", "--conns", "8", "--warmup", "2s", "--settle", "300ms", "--", script)
	var s struct {
		Meta struct {
			Duration float64 `json:"duration_seconds"`
		} `json:"meta"`
		Lost             int            `json:"lost"`
		Outcomes         map[string]int `json:"outcomes"`
		LostUnattributed int            `json:"lost_unattributed"`
		Kinds            map[string]struct {
			Lost int `json:"lost"`
		} `json:"kinds"`
		Replicas []struct {
			Index   int32    `json:"index"`
			Ready   *float64 `json:"ready_seconds"`
			SIGTERM *float64 `json:"sigterm_seconds"`
			Exit    *float64 `json:"exit_seconds"`
			Signal  string   `json:"signal"`
			Killed  bool     `json:"killed"`
			Sent    int      `json:"sent"`
			Lost    int      `json:"lost"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("exit %d, report not JSON: %v\n%s", code, err, stderr)
	}
	if len(s.Replicas) != 4 {
		t.Fatalf("%d replicas in the report, want 4 (2 and their replacements): %+v", len(s.Replicas), s.Replicas)
	}
	// The first replica to run the script crashes: 0 or 1.
	crashed, other := s.Replicas[0], s.Replicas[1]
	if other.Signal == "SIGKILL" {
		crashed, other = other, crashed
	}
	if crashed.Exit == nil || crashed.SIGTERM != nil || crashed.Signal != "SIGKILL" || crashed.Killed || *crashed.Exit > 2 {
		t.Errorf("replica %d: exit %v, sigterm %v, signal %q, killed %v: want its own exit by SIGKILL before the rollout, no SIGTERM, not killed by the rollout",
			crashed.Index, crashed.Exit, crashed.SIGTERM, crashed.Signal, crashed.Killed)
	}
	if other.SIGTERM == nil || other.Exit == nil || other.Killed {
		t.Errorf("replica %d: sigterm %v, exit %v, killed %v: want it replaced as usual", other.Index, other.SIGTERM, other.Exit, other.Killed)
	}
	for _, r := range s.Replicas[2:] {
		if r.Ready == nil || r.Sent == 0 {
			t.Errorf("replacement %d: ready %v, %d requests: want it ready and serving", r.Index, r.Ready, r.Sent)
		}
	}
	for _, k := range []string{"idle", "halfsent", "slowbody"} {
		if s.Kinds[k].Lost != 0 {
			t.Errorf("%d %s requests lost: the hard cases must not be set up against a replica that is gone (%v)", s.Kinds[k].Lost, k, s.Outcomes)
		}
	}
	if s.Lost != crashed.Lost || s.LostUnattributed != 0 {
		t.Errorf("lost %d, of which on replica %d %d, unattributed %d (%v): want only what its death cut", s.Lost, crashed.Index, crashed.Lost, s.LostUnattributed, s.Outcomes)
	}
	if (code == 0) != (s.Lost == 0) {
		t.Errorf("exit %d with %d lost", code, s.Lost)
	}
	// About 12 s: 2 s warmup, the other replica's 5 s lame duck, settle,
	// teardown; 22 s with the rollout held 10 s by the hard cases.
	if s.Meta.Duration > 18 {
		t.Errorf("the run took %.1fs: the rollout waited on the dead replica", s.Meta.Duration)
	}
	t.Logf("replica %d crashed; lost %d %v, run %.1fs", crashed.Index, s.Lost, s.Outcomes, s.Meta.Duration)
}
