package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// drainBin is the drain binary built for the end-to-end tests: replicas run
// `drain hello` as real processes.
var drainBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drain-e2e")
	if err != nil {
		panic(err)
	}
	drainBin = filepath.Join(dir, "drain")
	build := osexec.Command("go", "build", "-o", drainBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building drain: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	err := exec(context.Background(), args, strings.NewReader(""), &o, &e)
	code = exitCode(err, &e)
	return o.String(), e.String(), code
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "no command given"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"test"}, 2, "no COMMAND given"},
		{[]string{"test", "--rate", "0", "--", "true"}, 2, "--rate 0: need a positive"},
		{[]string{"test", "--bogus"}, 2, "flag provided but not defined: --bogus (drain test -h lists the flags)"},
		{[]string{"test", "--post-ratio", "2", "--", "x"}, 2, "--post-ratio 2"},
		{[]string{"test", "--client", "curl", "--", "x"}, 2, `--client "curl": use raw or go`},
		{[]string{"test", "--rollout", "recreate", "--", "x"}, 2, `--rollout "recreate": use rolling or delete-all`},
		{[]string{"test", "--ready-delay", "-1s", "--", "x"}, 2, "--ready-delay -1s: need a duration >= 0"},
		{[]string{"test", "--rollout", "delete-all", "--network", "kernel", "--", "x"}, 2, "--rollout=delete-all needs --network=model"},
		{[]string{"compare", "--rollout", "all", "--", "x"}, 2, `--rollout "all": use rolling or delete-all`},
		{[]string{"test", "--router", "envoy", "--", "x"}, 2, `--router "envoy": use one of nginx, haproxy, caddy`},
		{[]string{"compare", "--router", "traefik", "--", "x"}, 2, `--router "traefik": use one of nginx, haproxy, caddy`},
		{[]string{"test", "--router", "nginx", "--network", "kernel", "--", "x"}, 2, "--router needs --network=model"},
		{[]string{"test", "--router", "nginx", "--target", "http://127.0.0.1:1/"}, 2, "--router needs replicas started by drain test"},
		{[]string{"compare", "--allow-lost", "-2"}, 2, "--allow-lost -2: need a number of requests >= 0, or -1 for no limit"},
		{[]string{"compare", "--html", "/nonexistent-dir/x.html"}, 2, "--html: open /nonexistent-dir/x.html: no such file or directory"},
		{[]string{"compare", "--html", "--json"}, 2, `--html "--json": looks like a flag, not a file name`},
		{[]string{"test", "--", "/nonexistent/server"}, 2, "/nonexistent/server"},
		{[]string{"hello", "--shutdown", "sometimes"}, 2, `unknown shutdown mode "sometimes"`},
		{[]string{"hello", "extra"}, 2, "hello takes no arguments"},
		{[]string{"hello", "--ready", "later"}, 2, `--ready "later": use auto, until-drain or through-delay`},
		{[]string{"exec", "--ready", "later", "--", "true"}, 2, `--ready "later": use auto, until-drain or through-delay`},
		{[]string{"help"}, 0, ""},
		{[]string{"test", "-h"}, 0, "usage: drain test"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

// summary is the part of the JSON report the end-to-end tests read.
type summary struct {
	Sent     int            `json:"sent"`
	OK       int            `json:"ok"`
	Lost     int            `json:"lost"`
	Outcomes map[string]int `json:"outcomes"`
	Replicas []struct {
		Ready        *float64 `json:"ready_seconds"`
		DrainSeconds *float64 `json:"drain_seconds"`
		ExitCode     *int     `json:"exit_code"`
		Killed       bool     `json:"killed"`
	} `json:"replicas"`
	Latency struct {
		P99 float64 `json:"p99"`
	} `json:"latency_seconds"`
	Kinds map[string]struct {
		Sent     int `json:"sent"`
		Survived int `json:"survived"`
	} `json:"kinds"`
	NoEndpoint []struct {
		From float64  `json:"from_seconds"`
		To   *float64 `json:"to_seconds"`
	} `json:"no_endpoint"`
}

func testMode(t *testing.T, mode string, extra ...string) (summary, int) {
	t.Helper()
	// --quiet -1: these tests measure the rollout; the quiet connections'
	// steady-state losses (the library's 5 s keep-alive default, issue 17)
	// are not what they assert. --max-latency 0: 16 connections of a
	// 50 ms server carry at most 320 req/s, so at 400 the schedule queues
	// in the client (p50 ~1 s, max 1.85 s measured) and the latency
	// objective would judge that queue, not the rollout these tests assert.
	args := append([]string{"test", "--json", "--quiet", "-1", "--max-latency", "0", "--rate", "400", "--conns", "16", "--warmup", "500ms", "--settle", "300ms"}, extra...)
	args = append(args, "--", drainBin, "hello", "--shutdown", mode, "--delay", "0.05")
	out, stderr, code := run(t, args...)
	return parseSummary(t, out, stderr, code), code
}

// parseSummary reads drain test's JSON report.
func parseSummary(t *testing.T, out, stderr string, code int) summary {
	t.Helper()
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("exit %d, report not JSON: %v\nstdout:\n%s\nstderr:\n%s", code, err, out, stderr)
	}
	if s.Sent == 0 || s.Sent != s.OK+s.Lost {
		t.Fatalf("sent %d ok %d lost %d: inconsistent", s.Sent, s.OK, s.Lost)
	}
	return s
}

func TestDrainModeLosesNothing(t *testing.T) {
	resFile := filepath.Join(t.TempDir(), "results.jsonl")
	s, code := testMode(t, "drain", "--results", resFile)
	if s.Lost != 0 || code != 0 {
		t.Errorf("drain mode lost %d (%v), exit %d", s.Lost, s.Outcomes, code)
	}
	// One origin for results and events (docs/report-schema.md): the load
	// starts once the first replicas are ready, so no request was sent
	// before the first replica became ready (with the load's own origin,
	// the first was sent at about 0).
	firstReady := -1.0
	for _, r := range s.Replicas {
		if r.Ready != nil && (firstReady < 0 || *r.Ready < firstReady) {
			firstReady = *r.Ready
		}
	}
	b, err := os.ReadFile(resFile)
	if err != nil {
		t.Fatal(err)
	}
	first := int64(-1)
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Sent int64 `json:"sent_ns"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		if first < 0 || r.Sent < first {
			first = r.Sent
		}
	}
	if firstReady <= 0 || float64(first)/1e9 < firstReady {
		t.Errorf("first request sent at %.4fs, before a replica was ready (%.4fs): results and events do not share an origin", float64(first)/1e9, firstReady)
	}
	for _, k := range []string{"idle", "halfsent", "slowbody"} {
		if s.Kinds[k].Sent == 0 {
			t.Errorf("hard case %s never exercised", k)
		}
	}
	for i, r := range s.Replicas {
		if r.Killed {
			t.Errorf("replica %d killed", i)
		}
	}
}

func TestStdlibModeLoses(t *testing.T) {
	s, code := testMode(t, "stdlib")
	if s.Lost == 0 || code != 1 {
		t.Fatalf("stdlib mode lost %d, exit %d: expected losses", s.Lost, code)
	}
	if s.Outcomes["refused"] == 0 {
		t.Errorf("no refused connections: %v", s.Outcomes)
	}
	if s.Kinds["halfsent"].Survived == s.Kinds["halfsent"].Sent {
		t.Errorf("half-sent headers all survived Shutdown: %+v", s.Kinds["halfsent"])
	}
	if s.Kinds["idle"].Survived == s.Kinds["idle"].Sent {
		t.Errorf("idle connections all survived Shutdown: %+v", s.Kinds["idle"])
	}
}

func TestNoneModeLosesInFlight(t *testing.T) {
	s, _ := testMode(t, "none", "--allow-lost", "100000")
	if s.Lost == 0 {
		t.Fatalf("none mode lost nothing")
	}
	if s.Outcomes["eof"]+s.Outcomes["reset"] == 0 {
		t.Errorf("no in-flight request cut: %v", s.Outcomes)
	}
}

// needPeer skips the test if the peer under ../../peers is not installed
// (its check script fails), naming the command that installs it; .ci/run
// installs every peer a test uses, so CI runs these tests.
func needPeer(t *testing.T, name string) {
	t.Helper()
	if out, err := osexec.Command(filepath.Join("../../peers", name, "check")).CombinedOutput(); err != nil {
		t.Skipf("peer %s not installed (check: %v, %s): run peers/%s/install", name, err, bytes.TrimSpace(out), name)
	}
}

// TestCompareDefaultAndExpressTerminus runs the README's main job with one
// non-Go peer (CI installs it with peers/express-terminus/install).
func TestCompareDefaultAndExpressTerminus(t *testing.T) {
	needPeer(t, "express-terminus")
	selfExe = func() (string, error) { return drainBin, nil }
	out, stderr, code := run(t, "compare", "--json", "--quiet", "-1", "--rate", "300", "--warmup", "500ms", "--settle", "300ms",
		"--peers", "express-terminus", "--peers-dir", "../../peers")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var cmp struct {
		Rows []struct {
			Server   string `json:"server"`
			Strategy string `json:"strategy"`
			Verdict  string `json:"verdict"`
			Note     string `json:"note"`
			Sent     int    `json:"sent"`
			Lost     int    `json:"lost"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &cmp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]int{}
	for _, r := range cmp.Rows {
		if r.Sent == 0 {
			t.Errorf("%s %s: nothing sent (%s: %s)", r.Server, r.Strategy, r.Verdict, r.Note)
		}
		got[r.Server+"/"+r.Strategy] = r.Lost
	}
	if len(cmp.Rows) != 5 {
		t.Fatalf("%d rows, want 4 modes + express-terminus: %+v", len(cmp.Rows), cmp.Rows)
	}
	if got["drain hello/drain"] != 0 {
		t.Errorf("drain lost %d", got["drain hello/drain"])
	}
	if got["drain hello/stdlib"] == 0 {
		t.Error("stdlib lost nothing")
	}
	// terminus hangs up idle connections at once and closes its listener:
	// the background's "immediate shutdown".
	if got["express-terminus/terminus (immediate hang-up)"] == 0 {
		t.Errorf("express-terminus lost nothing: %v", got)
	}
}
