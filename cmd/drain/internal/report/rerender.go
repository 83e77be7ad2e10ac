package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// Run is what a JSON report (WriteJSON) keeps of a run besides its counts:
// enough, with the run's results (--results), to render its report again.
type Run struct {
	Meta         Meta
	Replicas     []Replica
	NoEndpoint   []Span
	FallbackOnly []Span
}

// ReadJSON reads the first JSON report (one line of WriteJSON) from r.
func ReadJSON(r io.Reader) (Run, error) {
	var j jsonSummary
	if err := json.NewDecoder(r).Decode(&j); err != nil {
		return Run{}, fmt.Errorf("report: reading a JSON report: %w", err)
	}
	if j.SchemaVersion != SchemaVersion {
		return Run{}, fmt.Errorf("report: JSON report has schema_version %d; this drain reads %d", j.SchemaVersion, SchemaVersion)
	}
	dur := func(f *float64) time.Duration {
		if f == nil {
			return Never
		}
		return time.Duration(*f * float64(time.Second))
	}
	spans := func(js []jsonSpan) []Span {
		var out []Span
		for _, s := range js {
			out = append(out, Span{From: dur(&s.From), To: dur(s.To)})
		}
		return out
	}
	run := Run{
		Meta: Meta{Command: j.Meta.Command, Flags: j.Meta.Flags, Version: j.Meta.Version,
			Duration: dur(&j.Meta.Duration), Interrupted: j.Meta.Interrupted},
		NoEndpoint:   spans(j.NoEndpoint),
		FallbackOnly: spans(j.FallbackOnly),
	}
	if j.Meta.Start != nil {
		if t, err := time.Parse(time.RFC3339Nano, *j.Meta.Start); err == nil {
			run.Meta.Start = t
		}
	}
	for _, jr := range j.Replicas {
		r := Replica{Index: jr.Index, Port: jr.Port, Ready: dur(jr.Ready), SIGTERM: dur(jr.SIGTERM),
			EndpointRemoved: dur(jr.EndpointRemoved), Exit: dur(jr.Exit), Drain: dur(jr.Drain),
			ExitCode: -1, Signal: jr.Signal, Killed: jr.Killed, Fallback: spans(jr.Fallback)}
		if jr.ExitCode != nil {
			r.ExitCode = *jr.ExitCode
		}
		run.Replicas = append(run.Replicas, r)
	}
	return run, nil
}

// Resummarize builds the Summary of a run again from its results and what
// its JSON report kept (run; the zero Run for none: the report then has no
// replica phases, and the diagnosis only what the outcomes say).
func Resummarize(run Run, results []load.Result) Summary {
	s := Summarize(run.Meta, results, nil, run.Replicas)
	s.NoEndpoint, s.FallbackOnly = run.NoEndpoint, run.FallbackOnly
	return s
}
