package report

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"time"

	"github.com/go-analyze/charts"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// Chart size in SVG user units; the page scales it to its width.
const (
	chartWidth  = 1000
	chartHeight = 320
)

// outcomeColors gives each outcome one color across every chart.
var outcomeColors = map[load.Outcome]string{
	load.OK:            "#91cc75",
	load.Refused:       "#ee6666",
	load.Reset:         "#fc8452",
	load.EOF:           "#9a60b4",
	load.Timeout:       "#73c0de",
	load.Status503:     "#fac858",
	load.Status5xx:     "#5470c6",
	load.Status502:     "#c23531",
	load.Status504:     "#2f4554",
	load.Status4xx:     "#3ba272",
	load.StatusOther:   "#ea7ccc",
	load.GoAway:        "#b6a2de",
	load.RefusedStream: "#d87a80",
	load.Unreachable:   "#8d6e63",
	load.Slow:          "#e0b400",
	load.Other:         "#888888",
}

// A marker is one vertical line on the timeline. An Optional one is in
// the legend only when the chart draws it: the fallback markers exist
// only in a delete-all, and would puzzle a reader of a rolling chart.
type markerStyle struct {
	Class, Label, Color, Dash string
	Width                     float64
	Optional                  bool
}

var (
	markSIGTERM = markerStyle{"marker sigterm", "SIGTERM", "#000000", "", 1.5, false}
	markRemoved = markerStyle{"marker endpoint-removed", "endpoint removed", "#000000", "6 3", 1, false}
	markExit    = markerStyle{"marker exit", "exit", "#555555", "2 2", 1.5, false}
	markKilled  = markerStyle{"marker exit killed", "exit (SIGKILL)", "#c00000", "", 2.5, false}
	// The fallback list (delete-all): the replica serves only while no
	// endpoint is ready; joining it is at the sync of the endpoint removal.
	markFallbackIn  = markerStyle{"marker fallback-added", "joined fallback", "#1f8a70", "4 2", 2, true}
	markFallbackOut = markerStyle{"marker fallback-removed", "left fallback", "#1f8a70", "1 2", 2, true}
)

// A band shades the whole plot height over one of the Service's spans.
type bandStyle struct {
	Class, Label, Color string
	Opacity             float64
}

var (
	bandNoEndpoint   = bandStyle{"band no-endpoint", noEndpointLabel, "#c00000", 0.15}
	bandFallbackOnly = bandStyle{"band fallback-only", fallbackOnlyLabel, "#1f8a70", 0.12}
)

// serviceBands pairs each of the Service's span lists with its style, in
// legend order.
func serviceBands(s Summary) []struct {
	style bandStyle
	spans []Span
} {
	return []struct {
		style bandStyle
		spans []Span
	}{{bandFallbackOnly, s.FallbackOnly}, {bandNoEndpoint, s.NoEndpoint}}
}

// legend returns the marker styles and bands to explain under s's chart:
// every marker that is not Optional, the Optional ones s has, and a band
// only if s has such a span.
func legend(s Summary) ([]markerStyle, []bandStyle) {
	drawn := make(map[markerStyle]bool)
	for _, r := range s.Replicas {
		for _, m := range replicaMarkers(r) {
			if m.t != Never {
				drawn[m.style] = true
			}
		}
	}
	var marks []markerStyle
	for _, m := range markerStyles {
		if !m.Optional || drawn[m] {
			marks = append(marks, m)
		}
	}
	var bands []bandStyle
	for _, b := range serviceBands(s) {
		if len(b.spans) > 0 {
			bands = append(bands, b.style)
		}
	}
	return marks, bands
}

// markerStyles lists the markers in legend order.
var markerStyles = []markerStyle{markSIGTERM, markRemoved, markFallbackIn, markFallbackOut, markExit, markKilled}

// A marker is one replica's event to draw.
type marker struct {
	t     time.Duration
	style markerStyle
}

// replicaMarkers lists r's markers: SIGTERM, endpoint removal, each
// stretch in the fallback list, exit.
func replicaMarkers(r Replica) []marker {
	exit := markExit
	if r.Killed {
		exit = markKilled
	}
	out := []marker{{r.SIGTERM, markSIGTERM}, {r.EndpointRemoved, markRemoved}}
	for _, f := range r.Fallback {
		out = append(out, marker{f.From, markFallbackIn}, marker{f.To, markFallbackOut})
	}
	return append(out, marker{r.Exit, exit})
}

// timelineSVG renders requests per bucket by outcome as a stacked area chart
// (x = seconds since start, by Intended time), shades the Service's spans
// with no endpoint or only the fallback list, and draws, per replica, the
// SIGTERM, endpoint removal, joining and leaving the fallback list and exit
// as vertical lines over it. It returns "" when there is nothing to draw.
//
// The chart library has no vertical mark lines on a category axis, so the
// markers are an SVG overlay positioned from the chart's own x axis line.
func timelineSVG(s Summary) (string, error) {
	n := s.Timeline.Len()
	if n < 2 {
		return "", nil
	}
	var (
		values [][]float64
		names  []string
		colors []charts.Color
	)
	for _, o := range load.Outcomes() {
		counts := s.Timeline.Counts[o]
		total := 0
		for _, c := range counts {
			total += c
		}
		if total == 0 && o != load.OK {
			continue
		}
		v := make([]float64, n)
		for i, c := range counts {
			v[i] = float64(c)
		}
		values = append(values, v)
		names = append(names, o.String())
		colors = append(colors, charts.ColorFromHex(outcomeColors[o]))
	}
	// Point i is bucket i's start, so the chart spans (n-1) buckets; when an
	// event falls in the last bucket, hold the last counts one more bucket.
	last := Never
	for _, r := range s.Replicas {
		for _, m := range replicaMarkers(r) {
			last = max(last, m.t)
		}
	}
	for _, b := range serviceBands(s) {
		for _, sp := range b.spans {
			last = max(last, sp.From, sp.To)
		}
	}
	if last > time.Duration(n-1)*s.Timeline.Bucket {
		for i := range values {
			values[i] = append(values[i], values[i][n-1])
		}
		n++
	}
	labels := make([]string, n)
	for i := range labels {
		labels[i] = strconv.FormatFloat((time.Duration(i) * s.Timeline.Bucket).Seconds(), 'f', 1, 64)
	}

	opt := charts.NewLineChartOptionWithData(values)
	opt.Theme = charts.GetTheme(charts.ThemeLight).WithSeriesColors(colors)
	opt.StackSeries = charts.Ptr(true)
	opt.Symbol = charts.Symbol{Shape: charts.SymbolNone}
	opt.LineStrokeWidth = 1
	opt.Padding = charts.Box{Top: 10, Right: 20, Bottom: 10, Left: 10, IsSet: true}
	opt.XAxis.Labels = labels
	opt.XAxis.BoundaryGap = charts.Ptr(false)
	opt.XAxis.LabelCount = 11
	opt.XAxis.Title = fmt.Sprintf("seconds since start (requests per %s of intended send time)", s.Timeline.Bucket)
	opt.Legend.SeriesNames = names
	opt.YAxis = []charts.YAxisOption{{Min: charts.Ptr(0.0)}}

	p := charts.NewPainter(charts.PainterOptions{
		OutputFormat: charts.ChartOutputSVG,
		Width:        chartWidth,
		Height:       chartHeight,
	})
	if err := p.LineChart(opt); err != nil {
		return "", fmt.Errorf("report: timeline chart: %w", err)
	}
	svg, err := p.Bytes()
	if err != nil {
		return "", fmt.Errorf("report: timeline chart: %w", err)
	}
	area, err := plotArea(svg)
	if err != nil {
		return "", err
	}
	// Point i is bucket i's start; the last point is at span.
	span := time.Duration(n-1) * s.Timeline.Bucket
	x := func(t time.Duration) float64 {
		return area.left + (area.right-area.left)*float64(t)/float64(span)
	}

	var g bytes.Buffer
	// The bands go under the markers; an open span runs to the chart's end.
	var bands bytes.Buffer
	for _, b := range serviceBands(s) {
		for _, sp := range b.spans {
			to := sp.To
			if to == Never || to > span {
				to = span
			}
			from := max(sp.From, 0)
			if from >= to {
				continue
			}
			fmt.Fprintf(&bands, `<rect class=%q x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%g"><title>%s</title></rect>`,
				b.style.Class, x(from), area.top, x(to)-x(from), area.bottom-area.top, b.style.Color, b.style.Opacity,
				html.EscapeString(fmt.Sprintf("%s: %s to %s", b.style.Label, at(sp.From), at(sp.To))))
		}
	}
	if bands.Len() > 0 {
		fmt.Fprintf(&g, `<g class="bands">%s</g>`, bands.Bytes())
	}
	g.WriteString(`<g class="markers">`)
	for _, r := range s.Replicas {
		for _, m := range replicaMarkers(r) {
			if m.t == Never || m.t < 0 || m.t > span {
				continue
			}
			xi := x(m.t)
			fmt.Fprintf(&g, `<line class=%q data-replica="%d" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%g"`,
				m.style.Class, r.Index, xi, area.top, xi, area.bottom, m.style.Color, m.style.Width)
			if m.style.Dash != "" {
				fmt.Fprintf(&g, ` stroke-dasharray="%s"`, m.style.Dash)
			}
			fmt.Fprintf(&g, `><title>%s</title></line>`,
				html.EscapeString(fmt.Sprintf("replica %d (port %d): %s at %s", r.Index, r.Port, m.style.Label, at(m.t))))
			if m.style == markSIGTERM {
				fmt.Fprintf(&g, `<text x="%.1f" y="%.1f" font-size="11" font-family="sans-serif" fill="#000">r%d</text>`,
					xi+2, area.top+11, r.Index)
			}
		}
	}
	g.WriteString(`</g>`)

	end := bytes.LastIndex(svg, []byte("</svg>"))
	if end < 0 {
		return "", errors.New("report: timeline chart: no </svg> in the chart")
	}
	out := make([]byte, 0, len(svg)+g.Len())
	out = append(out, svg[:end]...)
	out = append(out, g.Bytes()...)
	out = append(out, svg[end:]...)
	return string(out), nil
}

type box struct{ left, right, top, bottom float64 }

// twoPointPath matches the straight lines the chart library draws for axes
// and split lines: a path of exactly two points.
var twoPointPath = regexp.MustCompile(`<path d="M (-?\d+) (-?\d+)\s+L (-?\d+) (-?\d+)"`)

// plotArea finds the plot area in a chart the library rendered: the x axis
// line is the lowest horizontal line and spans the plot; the highest
// horizontal split line ending where it ends is the top of the value axis.
func plotArea(svg []byte) (box, error) {
	type line struct{ x1, y1, x2, y2 int }
	var hs []line
	for _, m := range twoPointPath.FindAllSubmatch(svg, -1) {
		var l line
		for i, p := range []*int{&l.x1, &l.y1, &l.x2, &l.y2} {
			*p, _ = strconv.Atoi(string(m[i+1])) // the regexp admits only integers
		}
		if l.y1 == l.y2 && l.x1 != l.x2 {
			if l.x1 > l.x2 {
				l.x1, l.x2 = l.x2, l.x1
			}
			hs = append(hs, l)
		}
	}
	if len(hs) == 0 {
		return box{}, errors.New("report: timeline chart: cannot find the x axis")
	}
	axis := hs[0]
	for _, l := range hs[1:] {
		if l.y1 > axis.y1 {
			axis = l
		}
	}
	top := axis.y1
	for _, l := range hs {
		if l.x2 == axis.x2 && l.y1 < top {
			top = l.y1
		}
	}
	return box{left: float64(axis.x1), right: float64(axis.x2), top: float64(top), bottom: float64(axis.y1)}, nil
}
