package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// hardCases names the kinds of request that probe one drain edge case each,
// in report order, with the label the table uses.
var hardCases = []struct {
	kind  load.Kind
	label string
}{
	{load.Idle, "idle after SIGTERM"},
	{load.HalfSent, "half-sent headers"},
	{load.SlowBody, "slow body across SIGTERM"},
	{load.Quiet, "quiet, then again"},
	{load.Steady, "steady load"},
}

// WriteTable writes a human summary of s: totals, outcomes, the hard cases
// survived, latency percentiles, one line per replica, a line per replica
// that was in the fallback list, a line each for the Service's spans with
// no endpoint and with only the fallback list (if any), and a verdict line
// ("verdict: 0 lost" or "verdict: LOST 37 requests"). The output is
// deterministic; it is written with a single Write whose error is returned.
func WriteTable(w io.Writer, s Summary) error {
	var b bytes.Buffer
	writeTable(&b, s)
	_, err := w.Write(b.Bytes())
	return err
}

// writeTable renders into a buffer, which cannot fail.
func writeTable(b *bytes.Buffer, s Summary) {
	if line := metaLine(s.Meta); line != "" {
		fmt.Fprintln(b, line)
	}
	if len(s.Meta.Flags) > 0 {
		keys := slices.Sorted(maps.Keys(s.Meta.Flags))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + s.Meta.Flags[k]
		}
		fmt.Fprintf(b, "flags: %s\n", strings.Join(parts, " "))
	}
	if b.Len() > 0 {
		b.WriteByte('\n')
	}

	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "sent\tok\tlost\tconnections\treconnects\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\n", s.Sent, s.OK, s.Lost, s.Connections, s.Reconnects)
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "outcome\tcount\n")
	for _, o := range load.Outcomes() {
		fmt.Fprintf(tw, "%s\t%d\n", o, s.Outcomes[o])
	}
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "hard case\tsurvived\n")
	for _, hc := range hardCases {
		fmt.Fprintf(tw, "%s\t%s\n", hc.label, s.Kinds[hc.kind])
	}
	fmt.Fprintln(tw)

	l := s.Latency
	fmt.Fprintf(tw, "latency (answered)\tp50\tp90\tp99\tp99.9\tmax\n")
	if l.Count == 0 {
		fmt.Fprintf(tw, "\t-\t-\t-\t-\t-\n")
	} else {
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\n", latency(l.P50), latency(l.P90), latency(l.P99), latency(l.P999), latency(l.Max))
	}
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "replica\tport\tready\tsigterm\tremoved\texit\tdrain\texit code\tkilled\tsent\tlost\n")
	for _, r := range s.Replicas {
		code := "-"
		if r.Exit != Never {
			code = fmt.Sprint(r.ExitCode)
			if r.Signal != "" {
				code += " (" + r.Signal + ")"
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n",
			r.Index, r.Port, at(r.Ready), at(r.SIGTERM), at(r.EndpointRemoved), at(r.Exit), at(r.Drain),
			code, yesNo(r.Killed), r.Sent, r.Lost)
	}
	tw.Flush() // into a bytes.Buffer: cannot fail
	for _, r := range s.Replicas {
		if r.ExitedOnItsOwn() {
			how := fmt.Sprintf("exit code %d", r.ExitCode)
			if r.Signal != "" {
				how = "signal " + r.Signal
			}
			fmt.Fprintf(b, "replica %d exited on its own at %s (%s), before any SIGTERM\n", r.Index, at(r.Exit), how)
		}
	}
	// Only a delete-all fills the fallback list; a line per replica that
	// was in it says who could serve while no endpoint was ready.
	for _, r := range s.Replicas {
		if len(r.Fallback) == 0 {
			continue
		}
		fmt.Fprintf(b, "replica %d in the fallback list (terminating, serving): %s\n", r.Index, spanList(r.Fallback))
	}
	// The Service as a whole: only a delete-all (or a replica dying on its
	// own) leaves it without a ready endpoint.
	if len(s.NoEndpoint) > 0 {
		fmt.Fprintf(b, "%s: %s\n", noEndpointLabel, spanList(s.NoEndpoint))
	}
	if len(s.FallbackOnly) > 0 {
		fmt.Fprintf(b, "%s: %s\n", fallbackOnlyLabel, spanList(s.FallbackOnly))
	}
	if s.LostUnattributed > 0 {
		fmt.Fprintf(b, "lost before reaching a replica: %d\n", s.LostUnattributed)
	}
	if s.SteadyUntil != Never {
		fmt.Fprintf(b, "\nsteady: %d lost (before the rollout, until %.3fs)\n", s.SteadyLost, s.SteadyUntil.Seconds())
	}
	if s.Meta.Interrupted {
		fmt.Fprintf(b, "\ninterrupted: the run was stopped before its end; this report is partial\n")
	}
	fmt.Fprintf(b, "\nverdict: %s\n", verdictLine(s))
	if s.Lost > 0 {
		b.WriteString("why (see the HTML report's request timeline):\n")
		for _, f := range Diagnose(s) {
			fmt.Fprintf(b, "  - %s\n", f.Text)
		}
	}
}

// The labels of the Service's spans, in the table and the timeline.
const (
	noEndpointLabel   = "no endpoint (connections rejected)"
	fallbackOnlyLabel = "served only by terminating replicas (fallback)"
)

// spanList formats spans as "FROM to TO, ...", TO "-" for an open one.
func spanList(spans []Span) string {
	parts := make([]string, len(spans))
	for i, f := range spans {
		parts[i] = at(f.From) + " to " + at(f.To)
	}
	return strings.Join(parts, ", ")
}

func metaLine(m Meta) string {
	var parts []string
	if m.Command != "" {
		parts = append(parts, m.Command)
	}
	if m.Version != "" {
		parts = append(parts, m.Version)
	}
	if !m.Start.IsZero() {
		parts = append(parts, "start "+m.Start.UTC().Format(time.RFC3339))
	}
	if m.Duration != 0 {
		parts = append(parts, "duration "+m.Duration.Round(time.Millisecond).String())
	}
	return strings.Join(parts, "  ")
}

// verdictLine is "0 lost" or "LOST n requests", noting killed replicas.
func verdictLine(s Summary) string {
	line := "0 lost"
	if s.Lost > 0 {
		line = fmt.Sprintf("LOST %d request%s", s.Lost, plural(s.Lost))
	}
	if k := s.Killed(); k > 0 {
		line += fmt.Sprintf(", %d replica%s SIGKILLed", k, plural(k))
	}
	return line
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// at formats an offset or duration as seconds with millisecond precision,
// "-" for Never.
func at(d time.Duration) string {
	if d == Never {
		return "-"
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

// latency formats a latency rounded to the microsecond.
func latency(d time.Duration) string { return d.Round(time.Microsecond).String() }
