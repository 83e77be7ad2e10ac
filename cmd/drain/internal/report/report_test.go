package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const ms = time.Millisecond

// fixture is a small deterministic run: replicas 0 and 1 are replaced by 2
// and 3; replica 1 loses a few requests at its SIGTERM and is killed.
func fixture() (Meta, []load.Result, []rollout.Event) {
	meta := Meta{
		Command:  "drain test",
		Flags:    map[string]string{"rate": "100", "replicas": "2", "duration": "3s"},
		Start:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: 3 * time.Second,
		Version:  "v0.0.0-test",
	}
	events := []rollout.Event{
		{At: 0, Replica: 0, Kind: rollout.Started, Port: 8080},
		{At: 0, Replica: 1, Kind: rollout.Started, Port: 8081},
		{At: 100 * ms, Replica: 0, Kind: rollout.Ready, Port: 8080},
		{At: 110 * ms, Replica: 1, Kind: rollout.Ready, Port: 8081},
		{At: 900 * ms, Replica: 2, Kind: rollout.Started, Port: 8082},
		{At: 1000 * ms, Replica: 2, Kind: rollout.Ready, Port: 8082},
		{At: 1000 * ms, Replica: 0, Kind: rollout.SIGTERM, Port: 8080},
		{At: 1100 * ms, Replica: 0, Kind: rollout.EndpointRemoved, Port: 8080},
		{At: 1450 * ms, Replica: 0, Kind: rollout.Exited, Port: 8080, ExitCode: 0},
		{At: 1500 * ms, Replica: 3, Kind: rollout.Started, Port: 8083},
		{At: 1600 * ms, Replica: 3, Kind: rollout.Ready, Port: 8083},
		{At: 1600 * ms, Replica: 1, Kind: rollout.SIGTERM, Port: 8081},
		{At: 1700 * ms, Replica: 1, Kind: rollout.EndpointRemoved, Port: 8081},
		{At: 2600 * ms, Replica: 1, Kind: rollout.Killed, Port: 8081},
		{At: 2610 * ms, Replica: 1, Kind: rollout.Exited, Port: 8081, ExitCode: -1, Signal: "killed", Killed: true},
	}
	var results []load.Result
	seq := uint64(0)
	add := func(r load.Result) {
		r.Seq = seq
		seq++
		results = append(results, r)
	}
	// Steady: 100/s for 3 s over 4 connections, alternating replicas.
	dropped := 0
	for i := range 300 {
		at := time.Duration(i) * 10 * ms
		rep := int32(i % 2)
		switch {
		case at >= 1000*ms:
			rep = 2 + int32(i%2)
			if at < 1600*ms {
				rep = int32(1 + i%2) // 1 and 2
			}
		}
		r := load.Result{
			Intended: at, Sent: at + ms/10, Done: at + time.Duration(1+i%7)*ms,
			Conn: uint32(i % 4), Replica: rep, Status: 200, Outcome: load.OK, Kind: load.Steady,
			NewConn: i < 4,
		}
		if i >= 150 && i < 160 && rep == 1 { // replica 1 drops requests at its SIGTERM
			r.Outcome, r.Status = []load.Outcome{load.Reset, load.EOF, load.Status503}[dropped%3], 0
			if r.Outcome == load.Status503 {
				r.Status = 503
			}
			dropped++
		}
		if i >= 170 && i < 174 {
			r.NewConn = true
			r.Conn = uint32(100 + i)
		}
		add(r)
	}
	// One refused dial before any replica was chosen.
	add(load.Result{Intended: 1650 * ms, Sent: 1650 * ms, Done: 1651 * ms, Conn: 200, Replica: -1, Outcome: load.Refused, Kind: load.Steady, NewConn: true})
	// Hard cases against replica 0: all survive.
	for i := range 2 {
		at := 1050*ms + time.Duration(i)*ms
		add(load.Result{Intended: at, Sent: at, Done: at + 5*ms, Conn: uint32(300 + i), Replica: 0, Status: 200, Outcome: load.OK, Kind: load.Idle})
		add(load.Result{Intended: at, Sent: at, Done: at + 7*ms, Conn: uint32(310 + i), Replica: 0, Status: 200, Outcome: load.OK, Kind: load.HalfSent, NewConn: true})
		add(load.Result{Intended: at, Sent: at, Done: at + 300*ms, Conn: uint32(320 + i), Replica: 0, Status: 200, Outcome: load.OK, Kind: load.SlowBody, Post: true, NewConn: true})
	}
	// Against replica 1: the idle one is lost (timeout), half-sent survives.
	add(load.Result{Intended: 1650 * ms, Sent: 1650 * ms, Done: 2650 * ms, Conn: 330, Replica: 1, Outcome: load.Timeout, Kind: load.Idle})
	add(load.Result{Intended: 1650 * ms, Sent: 1650 * ms, Done: 1660 * ms, Conn: 331, Replica: 1, Status: 200, Outcome: load.OK, Kind: load.HalfSent, NewConn: true})
	return meta, results, events
}

func fixtureSummary() Summary {
	meta, results, events := fixture()
	return Summarize(meta, results, events, nil)
}

func TestSummarize(t *testing.T) {
	s := fixtureSummary()
	if s.Sent != 309 || s.Lost != 7 || s.OK != 302 {
		t.Errorf("sent/ok/lost = %d/%d/%d, want 309/302/7", s.Sent, s.OK, s.Lost)
	}
	wantOutcomes := map[load.Outcome]int{
		load.OK: 302, load.Refused: 1, load.Reset: 2, load.EOF: 2, load.Timeout: 1,
		load.Status503: 1, load.Status5xx: 0, load.Status502: 0, load.Status504: 0, load.Status4xx: 0, load.StatusOther: 0,
		load.GoAway: 0, load.RefusedStream: 0, load.Unreachable: 0, load.Slow: 0, load.Other: 0,
	}
	if d := cmp.Diff(wantOutcomes, s.Outcomes); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	wantKinds := map[load.Kind]Survival{
		load.Steady: {Sent: 301, OK: 295}, load.Idle: {Sent: 3, OK: 2},
		load.HalfSent: {Sent: 3, OK: 3}, load.SlowBody: {Sent: 2, OK: 2}, load.Quiet: {},
	}
	if d := cmp.Diff(wantKinds, s.Kinds); d != "" {
		t.Errorf("kinds (-want +got):\n%s", d)
	}
	if s.SteadyUntil != time.Second || s.SteadyLost != 0 {
		t.Errorf("steady until %v, %d lost", s.SteadyUntil, s.SteadyLost)
	}
	if len(s.Replicas) != 4 {
		t.Fatalf("replicas = %d, want 4", len(s.Replicas))
	}
	r0, r1 := s.Replicas[0], s.Replicas[1]
	if r0.Drain != 450*ms || r0.Killed || r0.ExitCode != 0 || r0.Port != 8080 || r0.EndpointRemoved != 1100*ms {
		t.Errorf("replica 0 = %+v", r0)
	}
	if r1.Drain != 1010*ms || !r1.Killed || r1.ExitCode != -1 || r1.Signal != "killed" || r1.Lost != 6 {
		t.Errorf("replica 1 = %+v", r1)
	}
	if r := s.Replicas[2]; r.SIGTERM != Never || r.Exit != Never || r.Drain != Never || r.Ready != 1000*ms {
		t.Errorf("replica 2 = %+v", r)
	}
	if s.LostUnattributed != 1 {
		t.Errorf("lost unattributed = %d, want 1", s.LostUnattributed)
	}
	if s.Reconnects != 5 { // 4 steady reconnects + the refused dial
		t.Errorf("reconnects = %d, want 5", s.Reconnects)
	}
	if got := s.Killed(); got != 1 {
		t.Errorf("killed = %d, want 1", got)
	}
	if got := s.Verdict(); got != Lossy {
		t.Errorf("verdict = %q, want lossy", got)
	}
	if got := s.MedianDrain(); got != (450*ms+1010*ms)/2 {
		t.Errorf("median drain = %v", got)
	}
	if n := s.Timeline.Len(); n != 30 {
		t.Errorf("timeline buckets = %d, want 30", n)
	}
	total := 0
	for _, c := range s.Timeline.Counts {
		for _, v := range c {
			total += v
		}
	}
	if total != s.Sent {
		t.Errorf("timeline total = %d, want %d", total, s.Sent)
	}
	if s.Latency.Count != s.OK || s.Latency.Max != 300*ms {
		t.Errorf("latency = %+v", s.Latency)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := Summarize(Meta{}, nil, nil, nil)
	if s.Sent != 0 || len(s.Outcomes) != len(load.Outcomes()) || len(s.Kinds) != len(load.Kinds()) {
		t.Errorf("empty summary = %+v", s)
	}
	if s.Verdict() != Lossless || s.MedianDrain() != Never {
		t.Errorf("verdict %q, median %v", s.Verdict(), s.MedianDrain())
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"table": func(b *bytes.Buffer) error { return WriteTable(b, s) },
		"json":  func(b *bytes.Buffer) error { return WriteJSON(b, s) },
		"html":  func(b *bytes.Buffer) error { return WriteHTML(b, "empty", []Section{{Summary: s}}) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil || b.Len() == 0 {
			t.Errorf("%s: err %v, %d bytes", name, err, b.Len())
		}
	}
}

func TestSummarizeCallerReplicas(t *testing.T) {
	_, results, _ := fixture()
	reps := []Replica{newReplica(1), newReplica(0)}
	reps[0].Drain, reps[0].Lost = time.Second, 99
	s := Summarize(Meta{}, results, nil, reps)
	if s.Replicas[0].Index != 0 || s.Replicas[1].Drain != time.Second || s.Replicas[1].Lost != 6 {
		t.Errorf("replicas = %+v", s.Replicas[:2])
	}
	if reps[0].Lost != 99 {
		t.Error("Summarize modified its replicas argument")
	}
}

func TestPercentiles(t *testing.T) {
	if p := NewPercentiles(nil); p != (Percentiles{}) {
		t.Errorf("empty = %+v", p)
	}
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*ms)
	}
	ds = append(ds, 1234567*time.Microsecond+1) // an exact max, not bucketed
	p := NewPercentiles(ds)
	near := func(name string, got, want time.Duration) {
		t.Helper()
		if diff := got - want; diff < -want/500 || diff > want/500 {
			t.Errorf("%s = %v, want %v ±0.2%%", name, got, want)
		}
	}
	near("p50", p.P50, 501*ms)
	near("p90", p.P90, 901*ms)
	near("p99", p.P99, 991*ms)
	near("p99.9", p.P999, 1000*ms)
	if p.Max != 1234567*time.Microsecond+1 || p.Count != 1001 {
		t.Errorf("max/count = %v/%d", p.Max, p.Count)
	}
}

func TestVerdictsAndRows(t *testing.T) {
	s := fixtureSummary()
	row := NewRow("hello", "drain", s)
	want := Row{
		Server: "hello", Strategy: "drain", Verdict: Lossy, Sent: 309, Lost: 7,
		Refused: 1, Reset: 2, EOF: 2, S503: 1, Other: 1,
		HalfSent: Survival{Sent: 3, OK: 3}, Idle: Survival{Sent: 3, OK: 2},
		Drain: 730 * ms, Killed: 1,
	}
	row.Summary = nil
	if d := cmp.Diff(want, row); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}

	ok := Summary{Replicas: []Replica{{Drain: time.Second}}}
	if v := ok.Verdict(); v != Lossless {
		t.Errorf("lossless run: %q", v)
	}
	ok.Replicas[0].Killed = true
	if v := ok.Verdict(); v != Killed {
		t.Errorf("killed run: %q", v)
	}
	if r := FailedRow("x", "y", errors.New("boom")); r.Verdict != Failed || r.Note != "boom" || r.Verdict.Measured() {
		t.Errorf("failed row = %+v", r)
	}
}

func compareRows() []Row {
	s := fixtureSummary()
	clean := Summarize(Meta{}, []load.Result{
		{Intended: 0, Done: ms, Replica: 0, Status: 200, Kind: load.Steady},
		{Intended: 100 * ms, Done: 101 * ms, Replica: 0, Status: 200, Kind: load.HalfSent},
		{Intended: 150 * ms, Done: 151 * ms, Replica: 0, Status: 200, Kind: load.Idle},
	}, []rollout.Event{
		{At: 50 * ms, Replica: 0, Kind: rollout.SIGTERM, Port: 9000},
		{At: 120 * ms, Replica: 0, Kind: rollout.EndpointRemoved, Port: 9000},
		{At: 250 * ms, Replica: 0, Kind: rollout.Exited, Port: 9000},
	}, nil)
	return []Row{
		NewRow("hello", "drain", clean),
		NewRow("hello", "stdlib", s),
		FailedRow("express", "server.close", errors.New("exit status 1")),
		{Server: "tomcat", Strategy: "graceful", Verdict: NotInstalled, Note: "no JDK on this machine"},
	}
}

// golden compares got with testdata/name, or rewrites it under -update. The
// .html ones double as samples to open in a browser.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; go test -update to accept):\n%s", path, d)
	}
}

func TestGolden(t *testing.T) {
	s := fixtureSummary()
	rows := compareRows()
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"summary.table.golden", func(b *bytes.Buffer) error { return WriteTable(b, s) }},
		{"summary.json.golden", func(b *bytes.Buffer) error { return WriteJSON(b, s) }},
		{"compare.table.golden", func(b *bytes.Buffer) error { return WriteCompareTable(b, rows) }},
		{"compare.json.golden", func(b *bytes.Buffer) error { return WriteCompareJSON(b, rows) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

var markerLine = regexp.MustCompile(`<line class="marker ([a-z -]+)" data-replica="(\d+)" x1="([\d.]+)" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)"`)

func TestHTML(t *testing.T) {
	s := fixtureSummary()
	var a, b bytes.Buffer
	if err := WriteHTML(&a, "drain test", []Section{{Name: "hello (stdlib)", Summary: s}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&b, "drain test", []Section{{Name: "hello (stdlib)", Summary: s}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renders of the same summary differ")
	}
	page := a.String()
	golden(t, "summary.html", a.Bytes())
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "</svg>", "LOST 7 requests", "hello (stdlib)", "half-sent headers"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	selfContained(t, page)

	// Markers: SIGTERM, endpoint removal and exit for replicas 0 and 1, the
	// exit of the killed one marked as such, all inside the plot and in time
	// order left to right.
	type mark struct {
		class   string
		replica int
		x       float64
	}
	var marks []mark
	for _, m := range markerLine.FindAllStringSubmatch(page, -1) {
		x, _ := strconv.ParseFloat(m[3], 64)
		y1, _ := strconv.ParseFloat(m[4], 64)
		y2, _ := strconv.ParseFloat(m[5], 64)
		r, _ := strconv.Atoi(m[2])
		if y2-y1 < 100 {
			t.Errorf("marker %v is only %.0f high", m[0], y2-y1)
		}
		marks = append(marks, mark{m[1], r, x})
	}
	want := []mark{
		{"sigterm", 0, 0}, {"endpoint-removed", 0, 0}, {"exit", 0, 0},
		{"sigterm", 1, 0}, {"endpoint-removed", 1, 0}, {"exit killed", 1, 0},
	}
	if len(marks) != len(want) {
		t.Fatalf("markers = %+v, want %d", marks, len(want))
	}
	for i := range want {
		if marks[i].class != want[i].class || marks[i].replica != want[i].replica {
			t.Errorf("marker %d = %+v, want %s of replica %d", i, marks[i], want[i].class, want[i].replica)
		}
	}
	// SIGTERM 0 at 1.0 s, removal 1.1, exit 1.45, SIGTERM 1 at 1.6, removal 1.7, exit 2.61.
	order := []int{0, 1, 2, 3, 4, 5}
	for i := 1; i < len(order); i++ {
		if marks[order[i]].x <= marks[order[i-1]].x {
			t.Errorf("marker %d at x=%.1f is not right of marker %d at x=%.1f", i, marks[i].x, i-1, marks[i-1].x)
		}
	}
	// 1.0 s on a 0..2.9 s axis is about a third of the way.
	area, err := plotArea([]byte(page[strings.Index(page, "<svg xmlns"):]))
	if err != nil {
		t.Fatal(err)
	}
	frac := (marks[0].x - area.left) / (area.right - area.left)
	if frac < 1.0/2.9-0.01 || frac > 1.0/2.9+0.01 {
		t.Errorf("SIGTERM of replica 0 at %.3f of the axis, want %.3f", frac, 1.0/2.9)
	}
}

func TestCompareHTML(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCompareHTML(&b, "drain compare", compareRows()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	golden(t, "compare.html", b.Bytes())
	if n := strings.Count(page, "<svg xmlns"); n != 2 {
		t.Errorf("page has %d charts, want one per measured row (2)", n)
	}
	for _, want := range []string{`<table class="compare">`, "lossless", "lossy", "failed", "not-installed", "no JDK on this machine", `class="marker sigterm"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	selfContained(t, page)
}

// selfContained fails if the page would load anything from elsewhere.
func selfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script", "<link", " src=", "@import", "url(", "@font-face"} {
		if strings.Contains(page, bad) {
			t.Errorf("page is not self-contained: contains %q", bad)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errWrite
}

func TestWriterErrors(t *testing.T) {
	s := fixtureSummary()
	rows := compareRows()
	for name, write := range map[string]func(*failWriter) error{
		"WriteTable":        func(w *failWriter) error { return WriteTable(w, s) },
		"WriteJSON":         func(w *failWriter) error { return WriteJSON(w, s) },
		"WriteHTML":         func(w *failWriter) error { return WriteHTML(w, "t", []Section{{Summary: s}}) },
		"WriteCompareTable": func(w *failWriter) error { return WriteCompareTable(w, rows) },
		"WriteCompareJSON":  func(w *failWriter) error { return WriteCompareJSON(w, rows) },
		"WriteCompareHTML":  func(w *failWriter) error { return WriteCompareHTML(w, "t", rows) },
	} {
		for _, n := range []int{0, 10} {
			if err := write(&failWriter{n: n}); !errors.Is(err, errWrite) {
				t.Errorf("%s after %d bytes: err = %v, want %v", name, n, err, errWrite)
			}
		}
	}
}

// TestHTMLLongRun renders a minute at 200 requests/s with four restarts: the
// markers must land inside the plot at their times.
func TestHTMLLongRun(t *testing.T) {
	var results []load.Result
	for i := range 12000 {
		at := time.Duration(i) * 5 * ms
		o := load.OK
		if i%997 == 0 {
			o = load.Refused
		}
		results = append(results, load.Result{Intended: at, Done: at + 2*ms, Replica: int32(i % 4), Outcome: o, Status: 200})
	}
	var events []rollout.Event
	for r := range int32(4) {
		term := time.Duration(10+12*r) * time.Second
		events = append(events,
			rollout.Event{At: term, Replica: r, Kind: rollout.SIGTERM, Port: 8080 + int(r)},
			rollout.Event{At: term + 500*ms, Replica: r, Kind: rollout.EndpointRemoved, Port: 8080 + int(r)},
			rollout.Event{At: term + 5*time.Second, Replica: r, Kind: rollout.Exited, Port: 8080 + int(r)},
		)
	}
	s := Summarize(Meta{}, results, events, nil)
	page, area := renderChart(t, "long", Section{Name: "long", Summary: s})
	marks := markerLine.FindAllStringSubmatch(page, -1)
	if len(marks) != 12 {
		t.Fatalf("%d markers, want 12", len(marks))
	}
	span := float64(s.Timeline.Len()-1) * s.Timeline.Bucket.Seconds()
	for i, m := range marks {
		x, _ := strconv.ParseFloat(m[3], 64)
		want := area.left + (area.right-area.left)*events[i].At.Seconds()/span
		if x < area.left || x > area.right || x-want > 1 || want-x > 1 {
			t.Errorf("marker %d (%s) at x=%.1f, want %.1f in [%.0f, %.0f]", i, m[1], x, want, area.left, area.right)
		}
	}
}

// fallbackFixture is a delete-all: replicas 0 and 1 are deleted at once;
// at the deletion's sync (1.0 s) both leave the ready list and join the
// fallback list; replica 1's probe fails (it leaves at 1.5 s) and passes
// again (it rejoins at 1.7 s, still in it when the events end); replica 0
// leaves at the sync after its exit (2.5 s); replacements 2 and 3 never
// join it.
func fallbackFixture() Summary {
	var events []rollout.Event
	ev := func(at time.Duration, r int32, k rollout.EventKind) {
		events = append(events, rollout.Event{At: at, Replica: r, Kind: k, Port: 8080 + int(r)})
	}
	ev(100*ms, 0, rollout.Ready)
	ev(100*ms, 1, rollout.Ready)
	ev(900*ms, 2, rollout.Started)
	ev(900*ms, 3, rollout.Started)
	ev(1000*ms, 0, rollout.EndpointRemoved)
	ev(1000*ms, 0, rollout.FallbackAdded)
	ev(1000*ms, 1, rollout.EndpointRemoved)
	ev(1000*ms, 1, rollout.FallbackAdded)
	ev(1100*ms, 0, rollout.SIGTERM)
	ev(1100*ms, 1, rollout.SIGTERM)
	ev(1500*ms, 1, rollout.FallbackRemoved)
	ev(1700*ms, 1, rollout.FallbackAdded)
	ev(2000*ms, 2, rollout.Ready)
	ev(2000*ms, 3, rollout.Ready)
	ev(2300*ms, 0, rollout.Exited)
	ev(2500*ms, 0, rollout.FallbackRemoved)
	var results []load.Result
	for i := range 300 {
		at := time.Duration(i) * 10 * ms
		results = append(results, load.Result{Intended: at, Done: at + ms, Replica: int32(i % 2), Outcome: load.OK, Status: 200})
	}
	return Summarize(Meta{}, results, events, nil)
}

// TestFallbackReport: the stretches each replica spent in the fallback
// list, from its FallbackAdded and FallbackRemoved events, are in the
// Summary, the JSON (to_seconds null while open), the table and the HTML
// timeline (a marker at each join and each leave, at its time).
func TestFallbackReport(t *testing.T) {
	s := fallbackFixture()
	want := [][]Span{
		{{1000 * ms, 2500 * ms}},
		{{1000 * ms, 1500 * ms}, {1700 * ms, Never}},
		nil, nil,
	}
	for i, r := range s.Replicas {
		if d := cmp.Diff(want[i], r.Fallback); d != "" {
			t.Errorf("replica %d fallback (-want +got):\n%s", i, d)
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Replicas []struct {
			Fallback []map[string]*float64 `json:"fallback"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	wantJSON := [][]map[string]*float64{
		{{"from_seconds": f(1), "to_seconds": f(2.5)}},
		{{"from_seconds": f(1), "to_seconds": f(1.5)}, {"from_seconds": f(1.7), "to_seconds": nil}},
		{}, {},
	}
	if d := cmp.Diff(wantJSON, []([]map[string]*float64){doc.Replicas[0].Fallback, doc.Replicas[1].Fallback, doc.Replicas[2].Fallback, doc.Replicas[3].Fallback}); d != "" {
		t.Errorf("JSON fallback (-want +got):\n%s", d)
	}

	var tb bytes.Buffer
	if err := WriteTable(&tb, s); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"replica 0 in the fallback list (terminating, serving): 1.000s to 2.500s\n",
		"replica 1 in the fallback list (terminating, serving): 1.000s to 1.500s, 1.700s to -\n",
	} {
		if !strings.Contains(tb.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, tb.String())
		}
	}
	if strings.Contains(tb.String(), "replica 2 in the fallback") {
		t.Errorf("table lists replica 2 in the fallback list:\n%s", tb.String())
	}

	page, area := renderChart(t, "delete-all", Section{Summary: s})
	span := float64(s.Timeline.Len()-1) * s.Timeline.Bucket.Seconds()
	type mark struct {
		class   string
		replica string
		at      float64 // seconds, from x
	}
	var got []mark
	for _, m := range markerLine.FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "fallback") {
			continue
		}
		x, _ := strconv.ParseFloat(m[3], 64)
		at := (x - area.left) / (area.right - area.left) * span
		got = append(got, mark{m[1], m[2], float64(int(at*10+0.5)) / 10}) // to the 0.1 s
	}
	wantMarks := []mark{
		{"fallback-added", "0", 1}, {"fallback-removed", "0", 2.5},
		{"fallback-added", "1", 1}, {"fallback-removed", "1", 1.5}, {"fallback-added", "1", 1.7},
	}
	if d := cmp.Diff(wantMarks, got, cmp.AllowUnexported(mark{})); d != "" {
		t.Errorf("fallback markers (-want +got):\n%s", d)
	}
	for _, title := range []string{"replica 0 (port 8080): joined fallback at 1.000s", "replica 0 (port 8080): left fallback at 2.500s"} {
		if !strings.Contains(page, title) {
			t.Errorf("page lacks %q", title)
		}
	}
}

// steadyLoad is 100 requests/s from 0 to until, each done 1 ms after its
// intended time, all OK (the report's end of the load is the last Done).
func steadyLoad(until time.Duration) []load.Result {
	var results []load.Result
	for at := time.Duration(0); at < until; at += 10 * ms {
		results = append(results, load.Result{Intended: at, Sent: at, Done: at + ms, Replica: 0, Outcome: load.OK, Status: 200})
	}
	return results
}

// deleteAllEvents is a delete-all of replicas 0 and 1 timed like
// --ready=until-drain --ready-delay 3s: both are deleted at 1.0 s and join
// the fallback list at the deletion's sync (1.132 s), their failed probes
// take them out at the next sync (2.133 s), the replacements 2 and 3 are
// ready at 4.0 s and added at the sync after (4.13 s). Then, after the load
// (which ends at 5.0 s), Stop removes 2 and 3 at 5.2 s.
func deleteAllEvents() []rollout.Event {
	var events []rollout.Event
	ev := func(at time.Duration, r int32, k rollout.EventKind) {
		events = append(events, rollout.Event{At: at, Replica: r, Kind: k, Port: 8080 + int(r)})
	}
	for r := range int32(2) {
		ev(10*ms, r, rollout.Started)
		ev(40*ms, r, rollout.Ready)
		ev(40*ms, r, rollout.EndpointAdded)
	}
	ev(1000*ms, 2, rollout.Started)
	ev(1000*ms, 3, rollout.Started)
	ev(1000*ms, 0, rollout.SIGTERM)
	ev(1000*ms, 1, rollout.SIGTERM)
	// One sync applies the change in order, per replica: removal, then fallback.
	ev(1132*ms, 0, rollout.EndpointRemoved)
	ev(1132*ms, 0, rollout.FallbackAdded)
	ev(1132*ms, 1, rollout.EndpointRemoved)
	ev(1132*ms, 1, rollout.FallbackAdded)
	ev(2133*ms, 0, rollout.FallbackRemoved)
	ev(2133*ms, 1, rollout.FallbackRemoved)
	ev(2500*ms, 0, rollout.Exited)
	ev(2510*ms, 1, rollout.Exited)
	ev(4000*ms, 2, rollout.Ready)
	ev(4000*ms, 3, rollout.Ready)
	ev(4130*ms, 2, rollout.EndpointAdded)
	ev(4130*ms, 3, rollout.EndpointAdded)
	ev(5200*ms, 2, rollout.EndpointRemoved) // Stop, after the load
	ev(5200*ms, 3, rollout.EndpointRemoved)
	return events
}

// rollingEvents is a rolling update of replicas 0 and 1 (added at 0.04 s
// and 0.3 s) by 2 and 3: each replacement's addition and the old
// replica's removal reach the client at one sync, the addition first, so
// the ready list is never empty. Stop removes 2 and 3 after the load (5 s).
func rollingEvents() []rollout.Event {
	var events []rollout.Event
	ev := func(at time.Duration, r int32, k rollout.EventKind) {
		events = append(events, rollout.Event{At: at, Replica: r, Kind: k, Port: 8080 + int(r)})
	}
	ev(40*ms, 0, rollout.EndpointAdded)
	ev(300*ms, 1, rollout.EndpointAdded)
	ev(1000*ms, 2, rollout.Started)
	ev(1300*ms, 2, rollout.Ready)
	ev(1300*ms, 0, rollout.SIGTERM)
	ev(1400*ms, 2, rollout.EndpointAdded)
	ev(1400*ms, 0, rollout.EndpointRemoved)
	ev(1800*ms, 0, rollout.Exited)
	ev(2000*ms, 3, rollout.Started)
	ev(2300*ms, 3, rollout.Ready)
	ev(2300*ms, 1, rollout.SIGTERM)
	ev(2400*ms, 3, rollout.EndpointAdded)
	ev(2400*ms, 1, rollout.EndpointRemoved)
	ev(2800*ms, 1, rollout.Exited)
	ev(5200*ms, 2, rollout.EndpointRemoved) // Stop, after the load
	ev(5200*ms, 3, rollout.EndpointRemoved)
	return events
}

// TestServiceSpansDeleteAll: a delete-all timed like --ready=until-drain
// has the Service served only from the fallback list from the deletion's
// sync (1.132 s) to the sync of the failed probes (2.133 s), then no
// endpoint until the replacements are added (4.13 s); Stop's removals
// after the load add nothing. They are in the Summary, the JSON, one table
// line each, and shaded bands in the timeline with a legend entry each.
func TestServiceSpansDeleteAll(t *testing.T) {
	s := Summarize(Meta{}, steadyLoad(5*time.Second), deleteAllEvents(), nil)
	if d := cmp.Diff([]Span{{2133 * ms, 4130 * ms}}, s.NoEndpoint); d != "" {
		t.Errorf("NoEndpoint (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Span{{1132 * ms, 2133 * ms}}, s.FallbackOnly); d != "" {
		t.Errorf("FallbackOnly (-want +got):\n%s", d)
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"no_endpoint":   `[{"from_seconds":2.133,"to_seconds":4.13}]`,
		"fallback_only": `[{"from_seconds":1.132,"to_seconds":2.133}]`,
	} {
		if got := string(doc[key]); got != want {
			t.Errorf("JSON %s = %s, want %s", key, got, want)
		}
	}

	var tb bytes.Buffer
	if err := WriteTable(&tb, s); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"\nno endpoint (connections rejected): 2.133s to 4.130s\n",
		"\nserved only by terminating replicas (fallback): 1.132s to 2.133s\n",
	} {
		if n := strings.Count(tb.String(), line); n != 1 {
			t.Errorf("table has %q %d times, want once:\n%s", line, n, tb.String())
		}
	}

	page, area := renderChart(t, "delete-all", Section{Summary: s})
	span := float64(s.Timeline.Len()-1) * s.Timeline.Bucket.Seconds()
	type band struct {
		class    string
		from, to float64 // seconds, from x and width, to the 0.01 s
		full     bool    // the plot's whole height
		title    string
	}
	round := func(v float64) float64 { return float64(int(v*100+0.5)) / 100 }
	var got []band
	for _, m := range bandRect.FindAllStringSubmatch(page, -1) {
		x, _ := strconv.ParseFloat(m[2], 64)
		y, _ := strconv.ParseFloat(m[3], 64)
		w, _ := strconv.ParseFloat(m[4], 64)
		h, _ := strconv.ParseFloat(m[5], 64)
		from := (x - area.left) / (area.right - area.left) * span
		to := (x + w - area.left) / (area.right - area.left) * span
		got = append(got, band{m[1], round(from), round(to), y == area.top && y+h == area.bottom, m[6]})
	}
	want := []band{
		{"fallback-only", 1.13, 2.13, true, "served only by terminating replicas (fallback): 1.132s to 2.133s"},
		{"no-endpoint", 2.13, 4.13, true, "no endpoint (connections rejected): 2.133s to 4.130s"},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(band{})); d != "" {
		t.Errorf("bands (-want +got):\n%s", d)
	}
	legend := page[strings.Index(page, `<figcaption class="legend">`):]
	for _, entry := range []string{
		`<span class="band fallback-only">`, `<span class="band no-endpoint">`, "joined fallback</span>", "left fallback</span>",
	} {
		if !strings.Contains(legend, entry) {
			t.Errorf("legend lacks %q", entry)
		}
	}
}

var bandRect = regexp.MustCompile(`<rect class="band ([a-z-]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"[^>]*><title>([^<]*)</title>`)

// TestServiceSpansRolling: in a rolling update the ready list never
// empties, so there is no span, not before the first addition (the load
// starts before replica 1's, and before replica 0's), not at Stop after
// the load; the JSON has empty arrays, the table and the timeline have no
// such line, band or legend entry, and no fallback legend entry either.
func TestServiceSpansRolling(t *testing.T) {
	s := Summarize(Meta{}, steadyLoad(5*time.Second), rollingEvents(), nil)
	if s.NoEndpoint != nil || s.FallbackOnly != nil {
		t.Errorf("NoEndpoint %v, FallbackOnly %v; want none", s.NoEndpoint, s.FallbackOnly)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"no_endpoint":[]`, `"fallback_only":[]`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var tb, hb bytes.Buffer
	if err := WriteTable(&tb, s); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&hb, "rolling", []Section{{Summary: s}}); err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{noEndpointLabel, fallbackOnlyLabel} {
		if strings.Contains(tb.String(), unwanted) {
			t.Errorf("table has %q:\n%s", unwanted, tb.String())
		}
	}
	page := hb.String()
	if !strings.Contains(page, "SIGTERM</span>") {
		t.Fatal("no legend in the page")
	}
	for _, unwanted := range []string{`class="band`, "joined fallback", "left fallback", noEndpointLabel, fallbackOnlyLabel} {
		if strings.Contains(page, unwanted) {
			t.Errorf("rolling page has %q", unwanted)
		}
	}
}

// TestServiceSpansEnd: the clock stops at the load's last result. Stop's
// removals after it are not an outage; a span still open when the load
// ends has no end (To Never, JSON null, table "-"); without a load there
// is nothing to measure.
func TestServiceSpansEnd(t *testing.T) {
	events := deleteAllEvents()
	// The load ends at 3.0 s, while nothing is ready: the span is open.
	s := Summarize(Meta{}, steadyLoad(3*time.Second), events, nil)
	if d := cmp.Diff([]Span{{2133 * ms, Never}}, s.NoEndpoint); d != "" {
		t.Errorf("load ending at 3 s: NoEndpoint (-want +got):\n%s", d)
	}
	var js, tb bytes.Buffer
	if err := WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&tb, s); err != nil {
		t.Fatal(err)
	}
	if want := `"no_endpoint":[{"from_seconds":2.133,"to_seconds":null}]`; !strings.Contains(js.String(), want) {
		t.Errorf("JSON lacks %s", want)
	}
	if want := "no endpoint (connections rejected): 2.133s to -\n"; !strings.Contains(tb.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, tb.String())
	}

	// The load ends at 5.0 s; Stop removes every endpoint at 5.2 s, and
	// the load lasting until 5.3 s would make that an outage.
	for _, tc := range []struct {
		until time.Duration
		want  []Span
	}{
		{5 * time.Second, []Span{{2133 * ms, 4130 * ms}}},
		{5300 * ms, []Span{{2133 * ms, 4130 * ms}, {5200 * ms, Never}}},
	} {
		s := Summarize(Meta{}, steadyLoad(tc.until), events, nil)
		if d := cmp.Diff(tc.want, s.NoEndpoint); d != "" {
			t.Errorf("load until %v: NoEndpoint (-want +got):\n%s", tc.until, d)
		}
	}

	if s := Summarize(Meta{}, nil, events, nil); s.NoEndpoint != nil || s.FallbackOnly != nil {
		t.Errorf("no load: NoEndpoint %v, FallbackOnly %v; want none", s.NoEndpoint, s.FallbackOnly)
	}
}

// TestServiceSpansOneInstant: changes stamped with one time leave no span
// of zero length between them. With one replica, its removal and its
// joining the fallback list at 1.132 s are no outage; its leaving the
// fallback list and rejoining it at 2.0 s do not split the fallback-only
// span, nor its leaving and another replica's rejoining at 2.5 s.
func TestServiceSpansOneInstant(t *testing.T) {
	var events []rollout.Event
	ev := func(at time.Duration, r int32, k rollout.EventKind) {
		events = append(events, rollout.Event{At: at, Replica: r, Kind: k})
	}
	ev(40*ms, 0, rollout.EndpointAdded)
	ev(1132*ms, 0, rollout.EndpointRemoved)
	ev(1132*ms, 0, rollout.FallbackAdded)
	ev(2000*ms, 0, rollout.FallbackRemoved)
	ev(2000*ms, 0, rollout.FallbackAdded)
	ev(2500*ms, 0, rollout.FallbackRemoved)
	ev(2500*ms, 1, rollout.FallbackAdded)
	ev(3000*ms, 1, rollout.FallbackRemoved)
	ev(4130*ms, 2, rollout.EndpointAdded)
	s := Summarize(Meta{}, steadyLoad(5*time.Second), events, nil)
	if d := cmp.Diff([]Span{{3000 * ms, 4130 * ms}}, s.NoEndpoint); d != "" {
		t.Errorf("NoEndpoint (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Span{{1132 * ms, 3000 * ms}}, s.FallbackOnly); d != "" {
		t.Errorf("FallbackOnly (-want +got):\n%s", d)
	}
}

// renderChart writes sec as a one-section page and returns the page and
// its first chart's plot area.
func renderChart(t *testing.T, title string, sec Section) (string, box) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, title, []Section{sec}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	area, err := plotArea([]byte(page[strings.Index(page, "<svg xmlns"):]))
	if err != nil {
		t.Fatal(err)
	}
	return page, area
}

// TestSteadyLost: losses before the first SIGTERM are the steady state's,
// on their own table line and in JSON; without a SIGTERM there is none.
func TestSteadyLost(t *testing.T) {
	ms := time.Millisecond
	results := []load.Result{
		{Intended: 100 * ms, Done: 101 * ms, Replica: 0, Status: 200, Outcome: load.OK},
		{Intended: 500 * ms, Done: 501 * ms, Replica: 0, Outcome: load.Reset, Kind: load.Quiet, Post: true},
		{Intended: 999 * ms, Done: 1001 * ms, Replica: 0, Outcome: load.EOF},
		{Intended: 1500 * ms, Done: 1501 * ms, Replica: 0, Outcome: load.Refused},
	}
	events := []rollout.Event{{At: 0, Replica: 0, Kind: rollout.Started}, {At: time.Second, Replica: 0, Kind: rollout.SIGTERM}}
	s := Summarize(Meta{}, results, events, nil)
	if s.SteadyUntil != time.Second || s.SteadyLost != 2 || s.Lost != 3 {
		t.Errorf("steady until %v, %d lost of %d; want 1s, 2 of 3", s.SteadyUntil, s.SteadyLost, s.Lost)
	}
	var b strings.Builder
	WriteTable(&b, s)
	if !strings.Contains(b.String(), "\nsteady: 2 lost (before the rollout, until 1.000s)\n") {
		t.Errorf("table lacks the steady line:\n%s", b.String())
	}
	b.Reset()
	WriteJSON(&b, s)
	if !strings.Contains(b.String(), `"steady":{"until_seconds":1,"lost":2}`) {
		t.Errorf("JSON lacks steady:\n%s", b.String())
	}
	s = Summarize(Meta{}, results, nil, nil)
	b.Reset()
	WriteTable(&b, s)
	if s.SteadyUntil != Never || strings.Contains(b.String(), "steady:") {
		t.Errorf("no SIGTERM: steady until %v\n%s", s.SteadyUntil, b.String())
	}
}

// TestSlowIsLostAndInTheLatency: a Slow answer counts as lost, and its
// latency stays in the percentiles (a stall must not vanish from them).
func TestSlowIsLostAndInTheLatency(t *testing.T) {
	ms := time.Millisecond
	s := Summarize(Meta{}, []load.Result{
		{Intended: 0, Done: ms, Status: 200, Outcome: load.OK},
		{Intended: 10 * ms, Done: 3010 * ms, Status: 200, Outcome: load.Slow},
	}, nil, nil)
	if s.Lost != 1 || s.Outcomes[load.Slow] != 1 || s.Verdict() != Lossy {
		t.Errorf("lost %d, slow %d, verdict %v: want 1, 1, lossy", s.Lost, s.Outcomes[load.Slow], s.Verdict())
	}
	if s.Latency.Max < 2900*ms {
		t.Errorf("latency max %v: want the slow answer's 3s", s.Latency.Max)
	}
}
