// Package load is drain test's load client: an open-loop schedule, a raw
// HTTP/1.1 client that never retries, and a plain Result per request.
//
// load knows nothing of processes: it dials the endpoints an endpoint.Target gives it
// and records what happened, so a report can be built from []Result alone.
package load

import "time"

// Outcome classifies how one request ended. It is set where the failure is
// seen (dial, write, read), never parsed back out of an error string.
type Outcome uint8

const (
	OK            Outcome = iota // a complete response with an expected status (Request.Expect: 2xx by default)
	Refused                      // the dial was refused (nothing listening)
	Reset                        // the connection was reset (RST) before a full response
	EOF                          // the peer closed (FIN) before a full response
	Timeout                      // no full response before the request timeout
	Status503                    // a complete 503 response
	Status5xx                    // a complete 5xx response other than 502, 503, 504
	Status502                    // a complete 502 response (a router: its upstream failed)
	Status504                    // a complete 504 response (a router: its upstream timed out)
	Status4xx                    // a complete 4xx response not expected (a misrouted or unauthorized request)
	StatusOther                  // a complete 1xx, 2xx or 3xx response not expected (a redirect, say)
	GoAway                       // HTTP/2: the server's GOAWAY left the stream unprocessed (or came before it could open)
	RefusedStream                // HTTP/2: the stream was reset with REFUSED_STREAM
	Unreachable                  // the dial failed with no route to the host (a deleted pod's address no longer answers ARP)
	Slow                         // an expected response, but later than the latency objective ([MarkSlow]): a stall users see
	Other                        // anything else: malformed response, TLS failure, local error
	numOutcomes
)

var outcomeNames = [...]string{"ok", "refused", "reset", "eof", "timeout", "503", "5xx", "502", "504", "4xx", "status", "goaway", "refused_stream", "unreachable", "slow", "other"}

// String returns the outcome's stable name, used in JSON and tables.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every outcome in report order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// ParseOutcome is the inverse of [Outcome.String].
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), true
		}
	}
	return 0, false
}

// Lost reports whether the outcome counts as a lost request.
func (o Outcome) Lost() bool { return o != OK }

// DefaultMaxLatency is drain test's latency objective (--max-latency): an
// answer later than this counts as lost, outcome [Slow]. Measured on
// 2026-12-06 (docs/ci-gate.md): the library's drain kept every steady,
// quiet and idle request under 50 ms on every path (kube-proxy model,
// kernel path with and without 5 ms latency, nginx, HAProxy, Caddy, h2c),
// while net/http's plain Shutdown behind nginx held about 1600 steady
// requests for more than 2 s (nginx waits out its 5 s connect timeout to
// the exited replica, then retries). 2 s leaves room for one lost SYN (a
// 1 s retransmission) and a busy CI machine.
const DefaultMaxLatency = 2 * time.Second

// MarkSlow turns every OK result of a whole-request kind ([Kind.Whole])
// answered more than max after it was sent ([Result.Sent], not its planned
// time) into outcome [Slow], and returns how many it turned. max <= 0 turns
// none. It runs on the finished results, after the load: the client records
// what the wire said; the objective is the report's judgement of it.
//
// From the send, not the plan: a load client that falls behind its schedule
// (a starved CPU, a shared CI machine) makes every later request late by
// its own delay, which says nothing about the server or the path; a router
// that holds a request for seconds is counted all the same. Latency
// percentiles keep counting from the plan.
func MarkSlow(results []Result, max time.Duration) int {
	if max <= 0 {
		return 0
	}
	n := 0
	for i := range results {
		r := &results[i]
		if r.Outcome == OK && r.Kind.Whole() && r.Done-r.Sent > max {
			r.Outcome = Slow
			n++
		}
	}
	return n
}

// Kind says which part of the load a request belongs to.
type Kind uint8

const (
	Steady   Kind = iota // the open-loop schedule over the persistent connections
	Idle                 // sent on a connection left idle across a SIGTERM
	HalfSent             // headers half-way on the wire when the SIGTERM came
	SlowBody             // a POST whose body trickles in across the SIGTERM
	Quiet                // a pooled connection quiet for about the keep-alive timeout, then sending again
	numKinds
)

var kindNames = [...]string{"steady", "idle", "halfsent", "slowbody", "quiet"}

// String returns the kind's stable name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Whole reports whether requests of this kind are written at once, as an
// ordinary client writes them: steady, quiet and idle. Half-sent and slow
// bodies are held back by the client itself, by design, so their latency
// is the client's doing and no latency objective applies to them.
func (k Kind) Whole() bool { return k == Steady || k == Quiet || k == Idle }

// Kinds lists every kind in report order.
func Kinds() []Kind {
	out := make([]Kind, numKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Result is the record of one request. Times are offsets from the start of
// the run, so a Result is plain comparable data (about 48 bytes).
//
// Intended is when the schedule meant to send it; Sent when its first byte
// was written (or the dial began); Done when the response completed or the
// failure was seen. For a response a lazy exchange collected on the timer
// tick (lazy_linux.go), "completed" is the kernel's receive time of its last
// bytes, not the later moment the client read them. Latency is
// Done-Intended, so a stalled server shows up as latency, never as fewer
// requests.
type Result struct {
	Seq       uint64        // position in the schedule (steady) or a unique number
	Intended  time.Duration // planned send time
	Sent      time.Duration // actual send time
	Done      time.Duration // end time
	Conn      uint32        // client connection number, unique per run
	Replica   int32         // replica the connection reached; -1 if the dial failed before one was chosen
	Status    uint16        // HTTP status, 0 without a response
	Outcome   Outcome
	Kind      Kind
	Post      bool // POST with a body (else GET)
	NewConn   bool // the request opened its connection
	ConnClose bool // the response carried Connection: close
}

// Latency is the time from the planned send to the end.
func (r Result) Latency() time.Duration { return r.Done - r.Intended }
