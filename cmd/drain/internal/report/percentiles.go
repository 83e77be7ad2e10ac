package report

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in microseconds from 1µs to one
// hour with three significant figures, so a reported percentile is within
// 0.1% of the exact one.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// Percentiles summarizes a set of durations. The zero value (Count 0) means
// there was nothing to measure; every other field is then 0 too.
type Percentiles struct {
	Count int
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration // the 99.9th percentile
	Max   time.Duration
}

// NewPercentiles computes percentiles of ds with an HDR histogram
// (microsecond resolution, 3 significant figures, each percentile rounded up
// to its bucket's highest value but never above Max; values under 1µs count as
// 1µs, over an hour as an hour). Max is exact.
func NewPercentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	h := hdrhistogram.New(histMin, histMax, histSigFigs)
	var hi time.Duration
	for _, d := range ds {
		hi = max(hi, d)
		us := int64(d / time.Microsecond)
		us = max(us, histMin)
		us = min(us, histMax)
		// RecordValue fails only out of range, which the clamps rule out.
		_ = h.RecordValue(us)
	}
	// A percentile is the highest value equivalent to the recorded one (the
	// HDR convention), never more than the exact max.
	at := func(q float64) time.Duration {
		return min(time.Duration(h.ValueAtQuantile(q))*time.Microsecond, hi)
	}
	return Percentiles{
		Count: len(ds),
		P50:   at(50),
		P90:   at(90),
		P99:   at(99),
		P999:  at(99.9),
		Max:   hi, // exact: the histogram's max is rounded up to its bucket
	}
}
