package report

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// The request timeline's geometry, in SVG user units.
const (
	rqWidth     = 1060
	rqLeft      = 70  // y-axis labels
	rqRight     = 20  //
	rqLostStrip = 14  // a tick per lost request, above the plot
	rqPlot      = 240 // latency plot height
	rqAxis      = 26  // x-axis labels
	rqRow       = 18  // one replica's band
	rqMaxOK     = 6000
	rqPctBin    = 250 * time.Millisecond
)

// Replica band colours, by phase.
var bandColors = []struct{ Color, Label string }{
	{"#a6d96a", "ready, serving"},
	{"#fdae61", "SIGTERM sent, endpoint still routed"},
	{"#fee08b", "endpoint removed, draining"},
	{"#d7191c", "killed (SIGKILL)"},
	{"#7b3294", "exited, endpoint still routed"},
}

// RunEnd is the last moment a request timeline of s must show: the last
// request's end or the last replica event.
func RunEnd(s Summary) time.Duration {
	end := time.Duration(0)
	for _, p := range s.Requests {
		end = max(end, p.Intended+p.Latency)
	}
	for _, r := range s.Replicas {
		for _, t := range []time.Duration{r.Ready, r.SIGTERM, r.EndpointRemoved, r.Exit} {
			end = max(end, t)
		}
	}
	return end
}

// requestsSVG draws every request of s (x: intended send time, on one
// linear axis from 0 to xmax; y: latency, log scale; colour: outcome), each
// lost request also as a tick above the plot so that a single one is
// visible, the p50 and p99 latency of the answered requests (OK and Slow) per 250 ms, and
// below it one band per replica with its phases. xmax is shared by every
// chart of a compare page. Deterministic.
func requestsSVG(s Summary, xmax time.Duration) string {
	if xmax <= 0 {
		xmax = RunEnd(s)
	}
	xmax = niceCeil(xmax)
	plotW := float64(rqWidth - rqLeft - rqRight)
	x := func(t time.Duration) float64 { return rqLeft + plotW*float64(max(t, 0))/float64(xmax) }
	top := float64(rqLostStrip + 6)
	// Latency axis: 100 µs .. the next power of ten above the largest.
	maxLat := 10 * time.Millisecond
	for _, p := range s.Requests {
		maxLat = max(maxLat, p.Latency)
	}
	lo, hi := -4.0, math.Ceil(math.Log10(maxLat.Seconds()))
	y := func(d time.Duration) float64 {
		v := math.Log10(max(d.Seconds(), 1e-4))
		return top + rqPlot*(1-(v-lo)/(hi-lo))
	}
	height := int(top) + rqPlot + rqAxis + rqRow*len(s.Replicas) + 8

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="requests" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11" role="img" aria-label="request timeline">`+"\n", rqWidth, height, rqWidth, height)
	// Frame and grid.
	fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="#fafafa" stroke="#ccc"/>`+"\n", rqLeft, top, plotW, rqPlot)
	for e := lo; e <= hi; e++ {
		yy := y(time.Duration(math.Pow(10, e) * float64(time.Second)))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			rqLeft, yy, rqLeft+plotW, yy, rqLeft-4, yy+4, latencyTick(e))
	}
	fmt.Fprintf(&b, `<text x="12" y="%.1f" transform="rotate(-90 12 %.1f)" text-anchor="middle">latency</text>`+"\n", top+rqPlot/2, top+rqPlot/2)
	step := tickStep(xmax)
	axisY := top + rqPlot
	for t := time.Duration(0); t <= xmax; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%.1f" y="%.1f" text-anchor="middle">%ss</text>`+"\n",
			x(t), top, x(t), axisY, x(t), axisY+14, trimFloat(t.Seconds()))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">send time</text>`+"\n", rqLeft+plotW, axisY+24)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#c00">lost</text>`+"\n", rqLeft-4, rqLostStrip-2)

	// OK requests: small dots, thinned evenly past rqMaxOK.
	var ok, lost, answered []Point
	for _, p := range s.Requests {
		if p.Outcome == load.OK {
			ok = append(ok, p)
		} else {
			lost = append(lost, p)
		}
		if p.Outcome == load.OK || p.Outcome == load.Slow {
			answered = append(answered, p)
		}
	}
	every := 1
	if len(ok) > rqMaxOK {
		every = (len(ok) + rqMaxOK - 1) / rqMaxOK
	}
	fmt.Fprintf(&b, `<g fill="%s" fill-opacity="0.55">`, outcomeColors[load.OK])
	for i, p := range ok {
		if i%every == 0 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.6"/>`, x(p.Intended), y(p.Latency))
		}
	}
	b.WriteString("</g>\n")

	// Percentiles of the answered requests over time: a stall (Slow) must
	// raise the lines, not drop out of them.
	for _, pc := range []struct {
		q     float64
		color string
	}{{0.50, "#1f4e79"}, {0.99, "#7b3294"}} {
		pts := percentileSeries(answered, pc.q)
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="`, pc.color)
		for i, p := range pts {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.at), y(p.lat))
		}
		b.WriteString(`"/>` + "\n")
	}

	// Lost requests: big marks in the plot and a tick each in the strip.
	for _, p := range lost {
		c := outcomeColors[p.Outcome]
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="#222" stroke-width="0.8"><title>%s at %s, %s</title></circle>`+"\n",
			x(p.Intended), y(p.Latency), c, html.EscapeString(p.Outcome.String()), at(p.Intended), latency(p.Latency))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="2" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x(p.Intended), x(p.Intended), rqLostStrip, c)
	}

	// One band per replica.
	for i, r := range s.Replicas {
		yy := axisY + rqAxis + float64(i*rqRow)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">r%d</text>`+"\n", rqLeft-4, yy+12, r.Index)
		seg := func(from, to time.Duration, color, what string) {
			if from == Never {
				return
			}
			if to == Never {
				to = xmax
			}
			if to <= from {
				return
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>r%d %s %s – %s</title></rect>`+"\n",
				x(from), yy+2, x(to)-x(from), rqRow-4, color, r.Index, what, at(from), at(to))
		}
		end := r.Exit
		cut := func(t time.Duration) time.Duration { // the first of t and the exit
			if t == Never || (end != Never && end < t) {
				return end
			}
			return t
		}
		seg(r.Ready, cut(r.SIGTERM), bandColors[0].Color, bandColors[0].Label)
		seg(r.SIGTERM, cut(r.EndpointRemoved), bandColors[1].Color, bandColors[1].Label)
		seg(r.EndpointRemoved, end, bandColors[2].Color, bandColors[2].Label)
		if end != Never && r.EndpointRemoved != Never && end < r.EndpointRemoved {
			// Exited while still routed: what loses requests most often.
			seg(end, r.EndpointRemoved, bandColors[4].Color, bandColors[4].Label)
		}
		if end != Never {
			color := "#222"
			if r.Killed {
				color = bandColors[3].Color
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"><title>r%d exit %s</title></line>`+"\n",
				x(end), yy, x(end), yy+rqRow, color, r.Index, at(end))
		}
	}
	b.WriteString("</svg>")
	return b.String()
}

type latPoint struct{ at, lat time.Duration }

// percentileSeries is the q-quantile latency of ok per rqPctBin of send
// time, at each bin's middle; bins with fewer than 5 requests are skipped.
func percentileSeries(ok []Point, q float64) []latPoint {
	bins := map[int][]time.Duration{}
	for _, p := range ok {
		i := int(p.Intended / rqPctBin)
		bins[i] = append(bins[i], p.Latency)
	}
	keys := make([]int, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []latPoint
	for _, k := range keys {
		ls := bins[k]
		if len(ls) < 5 {
			continue
		}
		slices.Sort(ls)
		idx := min(len(ls)-1, int(math.Ceil(q*float64(len(ls))))-1)
		out = append(out, latPoint{at: time.Duration(k)*rqPctBin + rqPctBin/2, lat: ls[max(idx, 0)]})
	}
	return out
}

func latencyTick(exp float64) string {
	switch {
	case exp < -3:
		return fmt.Sprintf("%gµs", math.Pow(10, exp+6))
	case exp < 0:
		return fmt.Sprintf("%gms", math.Pow(10, exp+3))
	default:
		return fmt.Sprintf("%gs", math.Pow(10, exp))
	}
}

// tickStep is a 1-2-5 step giving 5 to 12 ticks over xmax.
func tickStep(xmax time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute} {
		if xmax/s <= 12 {
			return s
		}
	}
	return 5 * time.Minute
}

// niceCeil rounds d up to a whole tick step.
func niceCeil(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	s := tickStep(d)
	return (d + s - 1) / s * s
}

func trimFloat(v float64) string { return fmt.Sprintf("%g", math.Round(v*10)/10) }
