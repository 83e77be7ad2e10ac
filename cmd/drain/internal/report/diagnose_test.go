package report

import (
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

func TestDiagnose(t *testing.T) {
	ms := time.Millisecond
	// r0: SIGTERM at 1 s, endpoint removed at 1.15 s, exit at 1.5 s.
	r0 := Replica{Index: 0, Ready: 0, SIGTERM: 1000 * ms, EndpointRemoved: 1150 * ms, Exit: 1500 * ms}
	// r1: exits (at 2.05 s) before its endpoint is removed (2.2 s).
	r1 := Replica{Index: 1, Ready: 0, SIGTERM: 2000 * ms, EndpointRemoved: 2200 * ms, Exit: 2050 * ms}
	// r2: SIGKILLed at its grace period's end.
	r2 := Replica{Index: 2, Ready: 0, SIGTERM: 3000 * ms, EndpointRemoved: 3100 * ms, Exit: 4000 * ms, Killed: true}
	req := func(at time.Duration, o load.Outcome, rep int32) Point {
		return Point{Intended: at, Latency: ms, Outcome: o, Replica: rep}
	}
	sum := func(ps ...Point) Summary {
		s := Summary{Replicas: []Replica{r0, r1, r2}, Requests: ps, NoEndpoint: []Span{{From: 5000 * ms, To: 5200 * ms}}}
		for _, p := range ps {
			s.Sent++
			if p.Outcome == load.OK {
				s.OK++
			}
		}
		s.Lost = s.Sent - s.OK
		return s
	}
	for _, tc := range []struct {
		name  string
		s     Summary
		rules []string // rule names, in order
		count []int
		text  []string // substrings of the findings' texts, in order
	}{
		{"lossless", sum(req(0, load.OK, 0), req(1100*ms, load.OK, 0)),
			[]string{"lossless"}, []int{0}, []string{"No request lost: all 2 were answered."}},
		{"refused in the propagation window", sum(req(1010*ms, load.Refused, 0), req(1140*ms, load.Refused, 0), req(900*ms, load.OK, 0)),
			[]string{"refused-in-propagation"}, []int{2},
			[]string{"2 refused within the propagation window after SIGTERM (r0)", "endpoint removal took up to 150ms", "A lame duck of at least 300ms fixes it"}},
		{"refused after the removal is not the window", sum(req(1200*ms, load.Refused, 0)),
			[]string{"other"}, []int{1}, []string{"1 lost (1 refused) that no rule explains"}},
		{"exit before removal", sum(req(2100*ms, load.Refused, 1), req(2150*ms, load.Timeout, 1)),
			[]string{"exit-before-removal"}, []int{2}, []string{"2 lost (1 refused, 1 timeout) after their replica exited but before its endpoint was removed (r1)"}},
		{"reset and eof under a request", sum(req(1050*ms, load.Reset, 0), req(1300*ms, load.EOF, 0)),
			[]string{"closed-under-request"}, []int{2}, []string{"2 failed with 1 reset, 1 eof on connections the server closed under them after SIGTERM (r0)"}},
		{"killed", sum(req(3900*ms, load.Reset, 2), req(3950*ms, load.Timeout, 2)),
			[]string{"killed"}, []int{2}, []string{"SIGKILLed after the grace period (r2)"}},
		{"in flight across SIGTERM counts as after it", sum(req(900*ms, load.EOF, 0), Point{Intended: 800 * ms, Latency: 300 * ms, Outcome: load.Reset, Replica: 0}),
			[]string{"closed-under-request", "before-sigterm"}, []int{1, 1}, []string{"1 failed with 1 reset", "1 lost (1 eof) before"}},
		{"503 while draining", sum(req(1020*ms, load.Status503, 0)),
			[]string{"503-while-draining"}, []int{1}, []string{"1 answered 503 after SIGTERM (r0)"}},
		{"no endpoint", sum(req(5100*ms, load.Refused, -1)),
			[]string{"no-endpoint"}, []int{1}, []string{"1 lost (1 refused) while the Service had no endpoint"}},
		{"router's own answers", sum(req(1100*ms, load.Status502, -1), req(1200*ms, load.Status504, -1)),
			[]string{"router-upstream"}, []int{2}, []string{"2 answered by the router itself (1 502, 1 504)"}},
		{"HTTP/2 refused streams", sum(req(1100*ms, load.GoAway, -1), req(1200*ms, load.RefusedStream, -1)),
			[]string{"h2-refused"}, []int{2}, []string{"2 HTTP/2 streams left unprocessed (1 goaway, 1 refused_stream)"}},
		{"slow answers, wherever sent", sum(req(500*ms, load.Slow, 0), req(1100*ms, load.Slow, -1), req(2100*ms, load.Slow, 1)),
			[]string{"slow"}, []int{3}, []string{"3 answered, but later than the latency objective (--max-latency)"}},
		{"before SIGTERM", sum(req(500*ms, load.Status5xx, 0)),
			[]string{"before-sigterm"}, []int{1}, []string{"not a shutdown problem"}},
		{"several rules, in rule order", sum(req(500*ms, load.Status5xx, 0), req(1010*ms, load.Refused, 0), req(1050*ms, load.Reset, 0)),
			[]string{"refused-in-propagation", "closed-under-request", "before-sigterm"}, []int{1, 1, 1}, []string{"1 refused", "1 reset", "1 5xx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diagnose(tc.s)
			if len(got) != len(tc.rules) {
				t.Fatalf("%d findings, want %d: %+v", len(got), len(tc.rules), got)
			}
			for i, f := range got {
				if f.Rule != tc.rules[i] || f.Count != tc.count[i] || !strings.Contains(f.Text, tc.text[i]) {
					t.Errorf("finding %d: %s %d %q\nwant %s %d containing %q", i, f.Rule, f.Count, f.Text, tc.rules[i], tc.count[i], tc.text[i])
				}
			}
		})
	}
}

// TestExitedOnItsOwn: a replica that died before any SIGTERM (SIGKILL from
// outside) is not one the rollout killed; the requests in flight at its
// death or sent to it after are explained as its own exit; the table says
// so in a line of its own.
func TestExitedOnItsOwn(t *testing.T) {
	ms := time.Millisecond
	events := []rollout.Event{
		{At: 0, Replica: 0, Kind: rollout.Ready, Port: 8080},
		{At: 0, Replica: 1, Kind: rollout.Ready, Port: 8081},
		{At: 4000 * ms, Replica: 0, Kind: rollout.EndpointRemoved},
		{At: 4000 * ms, Replica: 0, Kind: rollout.Exited, ExitCode: -1, Signal: "SIGKILL", Killed: true},
		{At: 7000 * ms, Replica: 1, Kind: rollout.SIGTERM},
		{At: 7000 * ms, Replica: 1, Kind: rollout.Killed},
		{At: 8000 * ms, Replica: 1, Kind: rollout.Exited, ExitCode: -1, Signal: "SIGKILL", Killed: true},
	}
	s := Summarize(Meta{}, []load.Result{
		{Intended: 1000 * ms, Done: 1001 * ms, Replica: 0, Status: 200, Outcome: load.OK},
		{Intended: 3990 * ms, Done: 4001 * ms, Replica: 0, Outcome: load.Reset},
		{Intended: 2000 * ms, Done: 2001 * ms, Replica: 1, Status: 200, Outcome: load.OK},
	}, events, nil)
	if r0 := s.Replicas[0]; r0.Killed || !r0.ExitedOnItsOwn() {
		t.Errorf("replica 0: killed %v, exited on its own %v: want not killed by the rollout, exited on its own", r0.Killed, r0.ExitedOnItsOwn())
	}
	if r1 := s.Replicas[1]; !r1.Killed || r1.ExitedOnItsOwn() {
		t.Errorf("replica 1: killed %v, exited on its own %v: want killed by the rollout", r1.Killed, r1.ExitedOnItsOwn())
	}
	got := Diagnose(s)
	if len(got) != 1 || got[0].Rule != "exited-on-its-own" || got[0].Count != 1 || !strings.Contains(got[0].Text, "1 lost (1 reset) on replicas that exited on their own, before any SIGTERM (r0)") {
		t.Errorf("diagnosis %+v: want one exited-on-its-own finding for the reset", got)
	}
	var b strings.Builder
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "replica 0 exited on its own at 4.000s (signal SIGKILL), before any SIGTERM") {
		t.Errorf("table does not say replica 0 exited on its own:\n%s", b.String())
	}
}
