package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-analyze/charts"

	"github.com/drainhttp/drain/cmd/drain/internal/report"
)

// The latency sweep of drain compare: every server runs once per one-way
// latency of --latency-sweep (on the kernel path), its rows labelled
// "strategy @latency", and --sweep-chart draws lost requests per latency.

// parseSweep parses "0,1ms,5ms,20ms" into latencies (>= 0, no repeats).
func parseSweep(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range splitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 {
			return nil, usagef("--latency-sweep %q: %q is not a duration >= 0 (e.g. 0,1ms,5ms,20ms)", s, p)
		}
		for _, e := range out {
			if e == d {
				return nil, usagef("--latency-sweep %q: %v given twice", s, d)
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, usagef("--latency-sweep %q: no latency given", s)
	}
	return out, nil
}

// latencyLabel is how a latency appears in a row's strategy: "@5ms", "@0ms",
// "@0.5ms".
func latencyLabel(d time.Duration) string {
	return "@" + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
}

// sweepRow is one measured row of a sweep, for the chart.
type sweepRow struct {
	series  string // server and strategy, without the latency
	latency time.Duration
	lost    int
	ok      bool // measured (not failed)
}

// writeSweepChart draws a grouped bar chart as SVG: lost requests (y) per
// one-way latency (x), one bar per server and strategy.
func writeSweepChart(w io.Writer, title string, lats []time.Duration, rows []sweepRow) error {
	var names []string
	idx := map[string]int{}
	for _, r := range rows {
		if _, ok := idx[r.series]; !ok {
			idx[r.series] = len(names)
			names = append(names, r.series)
		}
	}
	col := map[time.Duration]int{}
	labels := make([]string, len(lats))
	for i, l := range lats {
		col[l] = i
		labels[i] = strings.TrimPrefix(latencyLabel(l), "@")
	}
	values := make([][]float64, len(names))
	for i := range values {
		values[i] = make([]float64, len(lats))
	}
	for _, r := range rows {
		if r.ok {
			values[idx[r.series]][col[r.latency]] = float64(r.lost)
		}
	}
	opt := charts.NewBarChartOptionWithData(values)
	opt.Theme = charts.GetTheme(charts.ThemeLight)
	opt.Title.Text = title
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.CategoryAxis.Labels = labels
	opt.CategoryAxis.Title = "one-way latency between client and replicas"
	opt.ValueAxis = []charts.ValueAxisOption{{Min: charts.Ptr(0.0), Title: "lost requests"}}
	for i := range opt.SeriesList {
		opt.SeriesList[i].Label.Show = charts.Ptr(true)
	}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: 800, Height: 400})
	if err := p.BarChart(opt); err != nil {
		return fmt.Errorf("sweep chart: %w", err)
	}
	b, err := p.Bytes()
	if err != nil {
		return fmt.Errorf("sweep chart: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// sweepSeries names a row's bar series.
func sweepSeries(r report.Row, strategy string) string {
	if r.Server == "drain hello" {
		return strategy
	}
	return r.Server + " " + strategy
}
