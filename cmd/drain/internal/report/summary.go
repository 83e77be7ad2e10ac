package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// DefaultBucket is the width of one timeline bucket: requests are counted
// per 100 ms of their Intended send time.
const DefaultBucket = 100 * time.Millisecond

// Never is the offset of a replica event that did not happen (a replica that
// was never sent SIGTERM, or had not exited when the run ended).
const Never time.Duration = -1

// Meta describes the run a Summary is about. Every field is optional; the
// zero value renders as empty.
type Meta struct {
	Command  string            // what was run, e.g. "drain test"
	Flags    map[string]string // flag name (no dash) -> value as given
	Start    time.Time         // wall-clock start; Result and Event offsets count from here
	Duration time.Duration     // how long the run took
	Version  string            // drain's version
	// Interrupted says the run was stopped before its end (Ctrl-C): the
	// report covers only what happened until then.
	Interrupted bool
}

// Survival counts the requests of one kind and how many of them got a full
// non-5xx response. The zero value means none of that kind were sent.
type Survival struct {
	Sent int
	OK   int
}

// String formats the survival as "ok/sent", e.g. "4/4".
func (s Survival) String() string { return fmt.Sprintf("%d/%d", s.OK, s.Sent) }

// Lost is the number of requests of this kind that were not OK.
func (s Survival) Lost() int { return s.Sent - s.OK }

// Replica is one replica's life as the rollout recorded it, plus the requests
// the load client attributed to it. Offsets are from the start of the run and
// are [Never] for an event that did not happen.
type Replica struct {
	Index           int32
	Port            int
	Ready           time.Duration // readiness passed, endpoint added
	SIGTERM         time.Duration // SIGTERM sent (endpoint removal began)
	EndpointRemoved time.Duration // the removal reached the client
	Exit            time.Duration // the process exited
	Drain           time.Duration // Exit - SIGTERM, or Never unless both happened
	ExitCode        int           // meaningful only when Exit != Never; -1 if ended by a signal
	Signal          string        // the signal that ended it, if any
	Killed          bool          // the rollout sent it SIGKILL (after the grace period, or at the end of the run)
	Sent            int           // requests whose connection reached this replica
	Lost            int           // of those, the ones that were not OK

	// Fallback is when the replica was in the fallback list (terminating
	// but serving, used by the client only while no endpoint is ready;
	// delete-all only), in order: it is what served, if anything, while
	// the ready list was empty.
	Fallback []Span
}

// ExitedOnItsOwn reports whether the replica exited before the rollout
// sent it SIGTERM (or with none): a crash, an OOM kill, a fatal error, not
// a drain.
func (r Replica) ExitedOnItsOwn() bool {
	return r.Exit != Never && (r.SIGTERM == Never || r.Exit < r.SIGTERM)
}

// Span is a stretch of a run; To is [Never] if it had not ended when the
// run did.
type Span struct {
	From, To time.Duration
}

// Timeline counts requests per bucket of Intended send time, by outcome.
// Counts[o][i] is the number of requests with outcome o whose Intended time
// fell in [i*Bucket, (i+1)*Bucket). Every outcome has a slice of the same
// length (possibly 0).
type Timeline struct {
	Bucket time.Duration
	Counts map[load.Outcome][]int
}

// Len is the number of buckets.
func (t Timeline) Len() int {
	for _, c := range t.Counts {
		return len(c)
	}
	return 0
}

// Summary is everything a report shows about one run. It is plain data built
// by [Summarize]; the writers only read it.
type Summary struct {
	Meta Meta

	Sent int // every request the client attempted
	OK   int // complete responses below 500
	Lost int // Sent - OK

	Outcomes map[load.Outcome]int   // every outcome, 0 included
	Kinds    map[load.Kind]Survival // every kind, zero included

	Latency Percentiles // Done - Intended of the answered requests: OK and Slow

	Replicas         []Replica // sorted by Index
	LostUnattributed int       // lost before any replica was chosen (Result.Replica == -1)

	Connections int // distinct client connections
	Reconnects  int // steady requests that opened a connection at or after the first SIGTERM

	// SteadyUntil is the end of the steady state before the rollout (the
	// first SIGTERM; for a --target run, when --during started), Never if
	// the run had none; SteadyLost counts the requests lost before it,
	// intended before it: losses a server causes between rollouts.
	SteadyUntil time.Duration
	SteadyLost  int

	// NoEndpoint is when the Service had no endpoint to route to (neither
	// a ready one nor one in the fallback list): the client's connections
	// were rejected. FallbackOnly is when no endpoint was ready but the
	// fallback list was not empty: only terminating replicas served. Both
	// are from the endpoint events as applied to the client, from the
	// first endpoint added to the end of the load, in order; see
	// [serviceSpans].
	NoEndpoint   []Span
	FallbackOnly []Span

	Timeline Timeline

	// Requests is every request, in the order of the results, for the
	// request timeline and the diagnosis.
	Requests []Point
}

// Point is one request as the request timeline draws it.
type Point struct {
	Intended time.Duration // planned send time, from the run's start
	Latency  time.Duration // Done - Intended
	Outcome  load.Outcome
	Replica  int32 // -1 if no replica was chosen
}

// Killed is the number of replicas that were sent SIGKILL.
func (s Summary) Killed() int {
	n := 0
	for _, r := range s.Replicas {
		if r.Killed {
			n++
		}
	}
	return n
}

// Verdict is [Lossless], [Lossy] or [Killed] for the run.
func (s Summary) Verdict() Verdict {
	switch {
	case s.Lost > 0:
		return Lossy
	case s.Killed() > 0:
		return Killed
	default:
		return Lossless
	}
}

// MedianDrain is the median SIGTERM-to-exit time over the replicas that were
// restarted, or Never if none was.
func (s Summary) MedianDrain() time.Duration {
	var ds []time.Duration
	for _, r := range s.Replicas {
		if r.Drain != Never {
			ds = append(ds, r.Drain)
		}
	}
	if len(ds) == 0 {
		return Never
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

// Summarize condenses one run into a Summary. It does not modify its inputs
// and keeps no reference to them.
//
// Replicas are derived from events, the one source of truth: SIGTERM and
// Exited give the drain time, Exited the exit code and signal, Killed or
// Exited.Killed the killed flag. replicas is for a caller without events; when
// it is non-empty it is used instead of the derived list (its Sent and Lost are
// recomputed from results). A replica that appears only in results is added
// with every offset Never.
func Summarize(meta Meta, results []load.Result, events []rollout.Event, replicas []Replica) Summary {
	s := Summary{
		Meta:     meta,
		Outcomes: make(map[load.Outcome]int),
		Kinds:    make(map[load.Kind]Survival),
	}
	s.Meta.Flags = maps.Clone(meta.Flags)
	for _, o := range load.Outcomes() {
		s.Outcomes[o] = 0
	}
	for _, k := range load.Kinds() {
		s.Kinds[k] = Survival{}
	}

	if len(replicas) > 0 {
		s.Replicas = slices.Clone(replicas)
		for i := range s.Replicas {
			s.Replicas[i].Sent, s.Replicas[i].Lost = 0, 0
			s.Replicas[i].Fallback = slices.Clone(s.Replicas[i].Fallback)
		}
	} else {
		s.Replicas = replicasFromEvents(events)
	}
	byIndex := make(map[int32]int, len(s.Replicas))
	for i, r := range s.Replicas {
		byIndex[r.Index] = i
	}
	replica := func(idx int32) *Replica {
		i, ok := byIndex[idx]
		if !ok {
			i = len(s.Replicas)
			byIndex[idx] = i
			s.Replicas = append(s.Replicas, newReplica(idx))
		}
		return &s.Replicas[i]
	}

	firstTerm := Never
	for _, e := range events {
		if e.Kind == rollout.SIGTERM && (firstTerm == Never || e.At < firstTerm) {
			firstTerm = e.At
		}
	}

	bucket := DefaultBucket
	nb := 0
	for _, r := range results {
		nb = max(nb, bucketOf(r.Intended, bucket)+1)
	}
	for _, e := range events { // so every marker falls on the chart
		nb = max(nb, bucketOf(e.At, bucket)+1)
	}
	s.Timeline = Timeline{Bucket: bucket, Counts: make(map[load.Outcome][]int)}
	for _, o := range load.Outcomes() {
		s.Timeline.Counts[o] = make([]int, nb)
	}

	conns := make(map[uint32]struct{})
	var latencies []time.Duration
	for _, r := range results {
		o := r.Outcome
		if _, known := s.Outcomes[o]; !known {
			o = load.Other
		}
		s.Sent++
		s.Requests = append(s.Requests, Point{Intended: r.Intended, Latency: r.Latency(), Outcome: o, Replica: r.Replica})
		s.Outcomes[o]++
		s.Timeline.Counts[o][bucketOf(r.Intended, bucket)]++
		ok := o == load.OK
		k := s.Kinds[r.Kind]
		k.Sent++
		if ok {
			s.OK++
			k.OK++
		}
		if ok || o == load.Slow { // answered: a stall shows in the percentiles too
			latencies = append(latencies, r.Latency())
		}
		if _, known := s.Kinds[r.Kind]; known {
			s.Kinds[r.Kind] = k
		}
		if r.Replica < 0 {
			if !ok {
				s.LostUnattributed++
			}
		} else {
			rep := replica(r.Replica)
			rep.Sent++
			if !ok {
				rep.Lost++
			}
		}
		conns[r.Conn] = struct{}{}
		if r.NewConn && r.Kind == load.Steady && firstTerm != Never && r.Intended >= firstTerm {
			s.Reconnects++
		}
	}
	s.SetSteady(firstTerm, results)
	s.Lost = s.Sent - s.OK
	loadEnd := Never
	for _, r := range results {
		loadEnd = max(loadEnd, r.Done)
	}
	s.NoEndpoint, s.FallbackOnly = serviceSpans(events, loadEnd)
	s.Connections = len(conns)
	s.Latency = NewPercentiles(latencies)
	slices.SortStableFunc(s.Replicas, func(a, b Replica) int { return cmp.Compare(a.Index, b.Index) })
	return s
}

func bucketOf(at, bucket time.Duration) int {
	if at < 0 {
		return 0
	}
	return int(at / bucket)
}

func newReplica(idx int32) Replica {
	return Replica{
		Index: idx, Ready: Never, SIGTERM: Never, EndpointRemoved: Never,
		Exit: Never, Drain: Never, ExitCode: -1,
	}
}

// replicasFromEvents builds one Replica per replica index seen in events,
// taking the first event of each kind, and every stretch in the fallback
// list (from a FallbackAdded to the FallbackRemoved that follows it).
func replicasFromEvents(events []rollout.Event) []Replica {
	var out []Replica
	byIndex := make(map[int32]int)
	for _, e := range events {
		i, ok := byIndex[e.Replica]
		if !ok {
			i = len(out)
			byIndex[e.Replica] = i
			out = append(out, newReplica(e.Replica))
		}
		r := &out[i]
		if e.Port != 0 && r.Port == 0 {
			r.Port = e.Port
		}
		first := func(p *time.Duration) {
			if *p == Never {
				*p = e.At
			}
		}
		switch e.Kind {
		case rollout.Ready:
			first(&r.Ready)
		case rollout.SIGTERM:
			first(&r.SIGTERM)
		case rollout.EndpointRemoved:
			first(&r.EndpointRemoved)
		case rollout.FallbackAdded:
			if n := len(r.Fallback); n == 0 || r.Fallback[n-1].To != Never {
				r.Fallback = append(r.Fallback, Span{From: e.At, To: Never})
			}
		case rollout.FallbackRemoved:
			if n := len(r.Fallback); n > 0 && r.Fallback[n-1].To == Never {
				r.Fallback[n-1].To = e.At
			}
		case rollout.Killed:
			r.Killed = true
		case rollout.Exited:
			if r.Exit == Never {
				r.Exit = e.At
				r.ExitCode = e.ExitCode
				r.Signal = e.Signal
			}
			// A SIGKILL with no SIGTERM before it is not the
			// rollout's (that one comes as a Killed event): the OOM
			// killer's, say. The replica exited on its own.
			r.Killed = r.Killed || (e.Killed && r.SIGTERM != Never && r.SIGTERM <= e.At)
		}
	}
	for i := range out {
		if r := &out[i]; r.SIGTERM != Never && r.Exit != Never {
			r.Drain = r.Exit - r.SIGTERM
		}
	}
	return out
}

// Service states, from the client's endpoint lists.
const (
	served       = iota // some endpoint is ready
	fallbackOnly        // none is ready; the fallback list is not
	noEndpoint          // both lists are empty: connections are rejected
)

// serviceSpans replays the endpoint events (EndpointAdded, EndpointRemoved,
// FallbackAdded, FallbackRemoved: each stamped when the client saw the
// change) and returns when both lists were empty and when only the
// fallback list was not.
//
// The clock starts at the first EndpointAdded, since before it the Service
// is still being set up, and stops at end, the load's last result: the
// run's teardown (Stop empties every list) comes after it and is not an
// outage anyone was exposed to. A span still open at end has To [Never].
// Without a load (end Never) there is nothing to measure against: none.
// A span of zero length (two changes with one time stamp, as synthetic
// events have) is dropped.
func serviceSpans(events []rollout.Event, end time.Duration) (none, fallback []Span) {
	if end == Never {
		return nil, nil
	}
	// Stable: changes applied at one sync keep their order.
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b rollout.Event) int { return cmp.Compare(a.At, b.At) })
	ready := make(map[int32]bool)
	fb := make(map[int32]bool)
	started := false
	state := served
	var spans [3][]Span
	for _, e := range events {
		if e.At > end {
			break
		}
		switch e.Kind {
		case rollout.EndpointAdded:
			ready[e.Replica] = true
			started = true
		case rollout.EndpointRemoved:
			delete(ready, e.Replica)
		case rollout.FallbackAdded:
			fb[e.Replica] = true
		case rollout.FallbackRemoved:
			delete(fb, e.Replica)
		default:
			continue
		}
		if !started {
			continue
		}
		next := served
		switch {
		case len(ready) > 0:
		case len(fb) > 0:
			next = fallbackOnly
		default:
			next = noEndpoint
		}
		if next == state {
			continue
		}
		// Close the state's open span (dropping it if no time passed),
		// and open next's, or reopen the one that ended at this instant.
		if l := spans[state]; len(l) > 0 {
			if l[len(l)-1].From == e.At {
				spans[state] = l[:len(l)-1]
			} else {
				l[len(l)-1].To = e.At
			}
		}
		if l := spans[next]; len(l) > 0 && l[len(l)-1].To == e.At {
			l[len(l)-1].To = Never
		} else {
			spans[next] = append(spans[next], Span{From: e.At, To: Never})
		}
		state = next
	}
	return spans[noEndpoint], spans[fallbackOnly]
}

// SetSteady sets SteadyUntil to until and counts SteadyLost in results
// (Summarize sets it from the first SIGTERM; a caller that knows better,
// such as a --target run's --during start, sets it again).
func (s *Summary) SetSteady(until time.Duration, results []load.Result) {
	s.SteadyUntil, s.SteadyLost = until, 0
	if until == Never {
		return
	}
	for _, r := range results {
		if r.Intended < until && r.Outcome.Lost() {
			s.SteadyLost++
		}
	}
}
