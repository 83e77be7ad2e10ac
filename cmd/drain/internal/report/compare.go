package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// Verdict is the one-word result of a run.
type Verdict string

// Verdicts. Only the first three come from a run ([Summary.Verdict]); the
// others are set by the caller on a [Row] that has no run, with a Note.
const (
	Lossless     Verdict = "lossless"      // 0 lost and no replica killed
	Lossy        Verdict = "lossy"         // at least one request lost
	Killed       Verdict = "killed"        // 0 lost, but a replica needed SIGKILL
	Failed       Verdict = "failed"        // the run itself errored
	NotInstalled Verdict = "not-installed" // the server could not be installed here
	NotMeasured  Verdict = "not-measured"  // deliberately skipped
)

// Measured reports whether the verdict comes from a run, so a Row's numbers
// mean something.
func (v Verdict) Measured() bool { return v == Lossless || v == Lossy || v == Killed }

// Row is one server's line in a comparison. Build it with [NewRow] from a
// run, with [FailedRow] for a run that errored, or as a literal with Verdict
// NotInstalled or NotMeasured and a Note. Numbers are 0 unless
// Verdict.Measured().
type Row struct {
	Server   string
	Strategy string // the server's shutdown strategy, e.g. "drain" or "stdlib"
	Verdict  Verdict
	Note     string // why a row was not measured, or a remark shown under the table

	Sent    int
	Lost    int
	Refused int
	Reset   int
	EOF     int
	S503    int // complete 503 responses
	Slow    int // answered later than the latency objective (--max-latency)
	Other   int // timeout, 5xx, 502, 504, 4xx, status, goaway, refused_stream, unreachable, other

	HalfSent Survival      // half-sent headers across SIGTERM
	Idle     Survival      // idle connection reused after SIGTERM
	Drain    time.Duration // median SIGTERM-to-exit over restarts; Never if none
	Killed   int           // replicas that needed SIGKILL

	Summary *Summary // the run, for the timeline in WriteCompareHTML; nil without one
}

// NewRow builds a comparison row from one run's Summary.
func NewRow(server, strategy string, s Summary) Row {
	o := s.Outcomes
	return Row{
		Server:   server,
		Strategy: strategy,
		Verdict:  s.Verdict(),
		Sent:     s.Sent,
		Lost:     s.Lost,
		Refused:  o[load.Refused],
		Reset:    o[load.Reset],
		EOF:      o[load.EOF],
		S503:     o[load.Status503],
		Other:    o[load.Timeout] + o[load.Status5xx] + o[load.Status502] + o[load.Status504] + o[load.Status4xx] + o[load.StatusOther] + o[load.GoAway] + o[load.RefusedStream] + o[load.Unreachable] + o[load.Other],
		Slow:     o[load.Slow],
		HalfSent: s.Kinds[load.HalfSent],
		Idle:     s.Kinds[load.Idle],
		Drain:    s.MedianDrain(),
		Killed:   s.Killed(),
		Summary:  &s,
	}
}

// FailedRow is the row of a run that errored; err becomes the Note.
func FailedRow(server, strategy string, err error) Row {
	note := "failed"
	if err != nil {
		note = err.Error()
	}
	return Row{Server: server, Strategy: strategy, Verdict: Failed, Note: note, Drain: Never}
}

// WriteCompareTable writes one line per row (server, strategy, sent, lost by
// outcome, half-sent and idle survived, median drain, killed, verdict) and
// the rows' notes below. Deterministic; one Write whose error is returned.
func WriteCompareTable(w io.Writer, rows []Row) error {
	var b bytes.Buffer
	writeCompareTable(&b, rows)
	_, err := w.Write(b.Bytes())
	return err
}

func writeCompareTable(b *bytes.Buffer, rows []Row) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(compareHeader, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	tw.Flush() // into a bytes.Buffer: cannot fail
	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("%s (%s): %s", r.Server, r.Strategy, r.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "\n%s\n", strings.Join(notes, "\n"))
	}
}

var compareHeader = []string{
	"server", "strategy", "sent", "lost", "refused", "reset", "eof", "503", "slow", "other",
	"half-sent", "idle", "drain", "killed", "verdict",
}

// cells is the row's table cells, in compareHeader order; "-" where the row
// has no run.
func (r Row) cells() []string {
	if !r.Verdict.Measured() {
		c := []string{r.Server, r.Strategy}
		for range len(compareHeader) - 3 {
			c = append(c, "-")
		}
		return append(c, string(r.Verdict))
	}
	drain := "-"
	if r.Drain != Never {
		drain = fmt.Sprintf("%.3fs", r.Drain.Seconds())
	}
	return []string{
		r.Server, r.Strategy, fmt.Sprint(r.Sent), fmt.Sprint(r.Lost),
		fmt.Sprint(r.Refused), fmt.Sprint(r.Reset), fmt.Sprint(r.EOF), fmt.Sprint(r.S503), fmt.Sprint(r.Slow), fmt.Sprint(r.Other),
		r.HalfSent.String(), r.Idle.String(), drain, fmt.Sprint(r.Killed), string(r.Verdict),
	}
}

type jsonCompare struct {
	SchemaVersion int       `json:"schema_version"`
	Rows          []jsonRow `json:"rows"`
}

type jsonRow struct {
	Server        string         `json:"server"`
	Strategy      string         `json:"strategy"`
	Verdict       Verdict        `json:"verdict"`
	Note          string         `json:"note"`
	Sent          int            `json:"sent"`
	Lost          int            `json:"lost"`
	LostByOutcome map[string]int `json:"lost_by_outcome"`
	HalfSent      jsonKind       `json:"halfsent"`
	Idle          jsonKind       `json:"idle"`
	Drain         *float64       `json:"drain_median_seconds"`
	Killed        int            `json:"killed"`
}

// WriteCompareJSON writes the rows as one indented JSON object
// {"schema_version": SchemaVersion, "rows": [...]}, described in
// docs/report-schema.md. Deterministic; returns w's error, if any.
func WriteCompareJSON(w io.Writer, rows []Row) error {
	j := jsonCompare{SchemaVersion: SchemaVersion, Rows: make([]jsonRow, 0, len(rows))}
	for _, r := range rows {
		drain := offset(r.Drain)
		if !r.Verdict.Measured() {
			drain = nil
		}
		j.Rows = append(j.Rows, jsonRow{
			Server:   r.Server,
			Strategy: r.Strategy,
			Verdict:  r.Verdict,
			Note:     r.Note,
			Sent:     r.Sent,
			Lost:     r.Lost,
			LostByOutcome: map[string]int{
				"refused": r.Refused, "reset": r.Reset, "eof": r.EOF, "503": r.S503, "slow": r.Slow, "other": r.Other,
			},
			HalfSent: jsonKind{Sent: r.HalfSent.Sent, Survived: r.HalfSent.OK, Lost: r.HalfSent.Lost()},
			Idle:     jsonKind{Sent: r.Idle.Sent, Survived: r.Idle.OK, Lost: r.Idle.Lost()},
			Drain:    drain,
			Killed:   r.Killed,
		})
	}
	return writeJSONIndent(w, j)
}
