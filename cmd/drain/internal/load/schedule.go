package load

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrConfig is wrapped by every usage error of this package (a zero rate, a
// negative duration, an unknown client); errors.Is(err, ErrConfig) finds it.
var ErrConfig = errors.New("load: invalid config")

// Schedule is the open-loop arrival schedule, a pure function of (elapsed,
// sent) like vegeta's ConstantPacer: request n (counting from 0) is meant to
// be sent n/Rate seconds after the start, whatever happened to the requests
// before it. Send times never wait for responses (the open model), so a slow
// server cannot slow the client down and hide its own latency (coordinated
// omission).
//
// A Schedule is plain data, safe for concurrent use.
type Schedule struct {
	// Rate is the arrival rate in requests per second. It must be > 0: a
	// zero or negative rate is a usage error, never "as fast as possible".
	Rate float64
	// Duration bounds the schedule: it holds the requests whose intended
	// time falls in [0, Duration). It must be > 0.
	Duration time.Duration
}

// Validate reports a usage error (wrapping ErrConfig) when Rate or Duration
// is not positive.
func (s Schedule) Validate() error {
	if !(s.Rate > 0) || math.IsInf(s.Rate, 0) {
		return fmt.Errorf("%w: rate %v must be a positive number of requests per second", ErrConfig, s.Rate)
	}
	if s.Duration <= 0 {
		return fmt.Errorf("%w: duration %v must be positive", ErrConfig, s.Duration)
	}
	return nil
}

// At returns the intended send time of request n, as an offset from the
// start. It is n/Rate seconds, rounded down to the nanosecond.
func (s Schedule) At(n uint64) time.Duration {
	return time.Duration(float64(n) * float64(time.Second) / s.Rate)
}

// Total returns the number of requests in the schedule: those whose
// intended time is before Duration. It is 0 for an invalid Schedule.
func (s Schedule) Total() uint64 {
	if s.Validate() != nil {
		return 0
	}
	n := uint64(math.Ceil(s.Duration.Seconds() * s.Rate))
	// Correct the float estimate so that At(n-1) < Duration <= At(n).
	for n > 0 && s.At(n-1) >= s.Duration {
		n--
	}
	for s.At(n) < s.Duration {
		n++
	}
	return n
}

// Pace returns how long to wait, elapsed time after the start with sent
// requests already sent, before sending the next one (request number sent).
// The wait is 0 when that request is already due or late; a late request is
// sent at once and keeps its intended time [Schedule.At] for its latency.
// stop is true once all [Schedule.Total] requests were sent, or at once for
// an invalid Schedule.
func (s Schedule) Pace(elapsed time.Duration, sent uint64) (wait time.Duration, stop bool) {
	if sent >= s.Total() {
		return 0, true
	}
	wait = s.At(sent) - elapsed
	if wait < 0 {
		wait = 0
	}
	return wait, false
}
