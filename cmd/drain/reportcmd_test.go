package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportRerenders: `drain report --run REPORT.json RESULTS.jsonl`
// gives back the run's JSON report (counts, outcomes, replica phases) and
// a table and page with its diagnosis.
func TestReportRerenders(t *testing.T) {
	dir := t.TempDir()
	results, runJSON, page := filepath.Join(dir, "results.jsonl"), filepath.Join(dir, "run.json"), filepath.Join(dir, "page.html")
	// stdlib mode closes its listener at SIGTERM: refused requests.
	out, stderr, code := run(t, "test", "--json", "--results", results, "--allow-lost", "100000",
		"--rate", "400", "--conns", "16", "--warmup", "500ms", "--settle", "300ms",
		"--", drainBin, "hello", "--shutdown", "stdlib", "--delay", "0.05")
	if code != 0 {
		t.Fatalf("drain test: exit %d\n%s", code, stderr)
	}
	if err := os.WriteFile(runJSON, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	again, stderr, code := run(t, "report", "--json", "--run", runJSON, "--html", page, results)
	if code != 0 {
		t.Fatalf("drain report: exit %d\n%s", code, stderr)
	}
	type view struct {
		Sent, OK, Lost int
		Outcomes       map[string]int
		Replicas       []map[string]any
		NoEndpoint     []any `json:"no_endpoint"`
	}
	var a, b view
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(again), &b); err != nil {
		t.Fatal(err)
	}
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	if string(aj) != string(bj) {
		t.Errorf("re-rendered report differs:\nrun:    %s\nreport: %s", aj, bj)
	}
	if a.Lost == 0 {
		t.Fatal("the stdlib run lost nothing: no diagnosis to check")
	}
	table, _, _ := run(t, "report", "--run", runJSON, results)
	if !strings.Contains(table, "why (see the HTML report") {
		t.Errorf("table lacks the diagnosis:\n%s", table)
	}
	html, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(html), `class="requests"`) || !strings.Contains(string(html), `<ul class="diagnosis">`) {
		t.Errorf("page: %v; lacks the request timeline or the diagnosis", err)
	}
	for _, args := range [][]string{{"report"}, {"report", filepath.Join(dir, "missing.jsonl")}, {"report", "--run", page, results}} {
		if _, stderr, code := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	t.Logf("sent %d, lost %d, outcomes %v", a.Sent, a.Lost, a.Outcomes)
}
