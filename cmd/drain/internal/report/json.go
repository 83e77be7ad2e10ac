package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// SchemaVersion is the version of the JSON written by [WriteJSON] and
// [WriteCompareJSON]. It changes only when a field is removed or changes
// meaning; adding a field keeps it. docs/report-schema.md describes each field.
const SchemaVersion = 1

// The json* types are the schema: field order here is key order in the
// output, maps are written with sorted keys, durations are float seconds and
// an event that did not happen is null.

type jsonSummary struct {
	SchemaVersion    int                 `json:"schema_version"`
	Meta             jsonMeta            `json:"meta"`
	Sent             int                 `json:"sent"`
	OK               int                 `json:"ok"`
	Lost             int                 `json:"lost"`
	Verdict          Verdict             `json:"verdict"`
	Outcomes         map[string]int      `json:"outcomes"`
	Kinds            map[string]jsonKind `json:"kinds"`
	Latency          jsonLatency         `json:"latency_seconds"`
	Replicas         []jsonReplica       `json:"replicas"`
	Killed           int                 `json:"killed"`
	LostUnattributed int                 `json:"lost_unattributed"`
	Connections      int                 `json:"connections"`
	Reconnects       int                 `json:"reconnects"`
	Steady           *jsonSteady         `json:"steady"`
	NoEndpoint       []jsonSpan          `json:"no_endpoint"`
	FallbackOnly     []jsonSpan          `json:"fallback_only"`
	Timeline         jsonTimeline        `json:"timeline"`
}

type jsonMeta struct {
	Command  string            `json:"command"`
	Flags    map[string]string `json:"flags"`
	Start    *string           `json:"start"`
	Duration float64           `json:"duration_seconds"`
	Version  string            `json:"version"`
	// Interrupted is omitted (false) for a run that ran to its end.
	Interrupted bool `json:"interrupted,omitempty"`
}

type jsonKind struct {
	Sent     int `json:"sent"`
	Survived int `json:"survived"`
	Lost     int `json:"lost"`
}

type jsonLatency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

type jsonReplica struct {
	Index           int32      `json:"index"`
	Port            int        `json:"port"`
	Ready           *float64   `json:"ready_seconds"`
	SIGTERM         *float64   `json:"sigterm_seconds"`
	EndpointRemoved *float64   `json:"endpoint_removed_seconds"`
	Fallback        []jsonSpan `json:"fallback"`
	Exit            *float64   `json:"exit_seconds"`
	Drain           *float64   `json:"drain_seconds"`
	ExitCode        *int       `json:"exit_code"`
	Signal          string     `json:"signal"`
	Killed          bool       `json:"killed"`
	Sent            int        `json:"sent"`
	Lost            int        `json:"lost"`
}

// jsonSpan is one stretch of a run: a replica's in the fallback list, or
// the Service's with no endpoint or only the fallback list.
type jsonSpan struct {
	From float64  `json:"from_seconds"`
	To   *float64 `json:"to_seconds"`
}

type jsonTimeline struct {
	Bucket float64          `json:"bucket_seconds"`
	Counts map[string][]int `json:"counts"`
}

// seconds converts d to float seconds rounded to the microsecond, so the
// output is short and stable.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Second)
}

// offset is seconds(d), or nil for Never.
func offset(d time.Duration) *float64 {
	if d == Never {
		return nil
	}
	v := seconds(d)
	return &v
}

func toJSON(s Summary) jsonSummary {
	j := jsonSummary{
		SchemaVersion: SchemaVersion,
		Meta: jsonMeta{
			Command:     s.Meta.Command,
			Flags:       s.Meta.Flags,
			Duration:    seconds(s.Meta.Duration),
			Version:     s.Meta.Version,
			Interrupted: s.Meta.Interrupted,
		},
		Sent:    s.Sent,
		OK:      s.OK,
		Lost:    s.Lost,
		Verdict: s.Verdict(),
		Latency: jsonLatency{
			Count: s.Latency.Count,
			P50:   seconds(s.Latency.P50),
			P90:   seconds(s.Latency.P90),
			P99:   seconds(s.Latency.P99),
			P999:  seconds(s.Latency.P999),
			Max:   seconds(s.Latency.Max),
		},
		Replicas:         make([]jsonReplica, 0, len(s.Replicas)),
		Killed:           s.Killed(),
		LostUnattributed: s.LostUnattributed,
		Connections:      s.Connections,
		Reconnects:       s.Reconnects,
		Steady:           steadyJSON(s),
		NoEndpoint:       jsonSpans(s.NoEndpoint),
		FallbackOnly:     jsonSpans(s.FallbackOnly),
		Outcomes:         make(map[string]int),
		Kinds:            make(map[string]jsonKind),
		Timeline: jsonTimeline{
			Bucket: seconds(s.Timeline.Bucket),
			Counts: make(map[string][]int),
		},
	}
	if j.Meta.Flags == nil {
		j.Meta.Flags = map[string]string{}
	}
	if !s.Meta.Start.IsZero() {
		start := s.Meta.Start.UTC().Format(time.RFC3339Nano)
		j.Meta.Start = &start
	}
	n := s.Timeline.Len()
	for _, o := range load.Outcomes() {
		j.Outcomes[o.String()] = s.Outcomes[o]
		c := s.Timeline.Counts[o]
		if c == nil {
			c = make([]int, n)
		}
		j.Timeline.Counts[o.String()] = c
	}
	for _, k := range load.Kinds() {
		v := s.Kinds[k]
		j.Kinds[k.String()] = jsonKind{Sent: v.Sent, Survived: v.OK, Lost: v.Lost()}
	}
	for _, r := range s.Replicas {
		jr := jsonReplica{
			Index:           r.Index,
			Port:            r.Port,
			Ready:           offset(r.Ready),
			SIGTERM:         offset(r.SIGTERM),
			EndpointRemoved: offset(r.EndpointRemoved),
			Exit:            offset(r.Exit),
			Drain:           offset(r.Drain),
			Signal:          r.Signal,
			Killed:          r.Killed,
			Sent:            r.Sent,
			Lost:            r.Lost,
		}
		jr.Fallback = jsonSpans(r.Fallback)
		if r.Exit != Never {
			code := r.ExitCode
			jr.ExitCode = &code
		}
		j.Replicas = append(j.Replicas, jr)
	}
	return j
}

// jsonSpans converts spans, [] (not null) for none.
func jsonSpans(spans []Span) []jsonSpan {
	out := make([]jsonSpan, 0, len(spans))
	for _, f := range spans {
		out = append(out, jsonSpan{From: seconds(f.From), To: offset(f.To)})
	}
	return out
}

// WriteJSON writes s as one JSON object on one line followed by a newline
// (JSON lines: runs can be appended to one file), schema version
// [SchemaVersion], described in docs/report-schema.md. The output is
// deterministic. It returns w's error, if any.
func WriteJSON(w io.Writer, s Summary) error {
	return writeJSON(w, toJSON(s))
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

func writeJSONIndent(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// jsonSteady is the steady state before the rollout: null without one.
type jsonSteady struct {
	Until float64 `json:"until_seconds"`
	Lost  int     `json:"lost"`
}

func steadyJSON(s Summary) *jsonSteady {
	if s.SteadyUntil == Never {
		return nil
	}
	return &jsonSteady{Until: seconds(s.SteadyUntil), Lost: s.SteadyLost}
}
