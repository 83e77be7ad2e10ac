package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-analyze/charts"
)

// LatencyLabel is how a one-way latency appears in a latency sweep's row
// labels and chart: "@5ms", "@0ms", "@0.5ms".
func LatencyLabel(d time.Duration) string {
	return "@" + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
}

// SweepPoint is one measured row of drain compare's latency sweep: a
// server and strategy (Series) at one one-way latency.
type SweepPoint struct {
	Series  string // server and strategy, without the latency
	Latency time.Duration
	Lost    int
	OK      bool // measured (not failed)
}

// WriteSweepChart draws a grouped bar chart as SVG: lost requests (y) per
// one-way latency (x, in the order of lats), one bar per series.
func WriteSweepChart(w io.Writer, title string, lats []time.Duration, points []SweepPoint) error {
	var names []string
	idx := map[string]int{}
	for _, p := range points {
		if _, ok := idx[p.Series]; !ok {
			idx[p.Series] = len(names)
			names = append(names, p.Series)
		}
	}
	col := map[time.Duration]int{}
	labels := make([]string, len(lats))
	for i, l := range lats {
		col[l] = i
		labels[i] = strings.TrimPrefix(LatencyLabel(l), "@")
	}
	values := make([][]float64, len(names))
	for i := range values {
		values[i] = make([]float64, len(lats))
	}
	for _, p := range points {
		if p.OK {
			values[idx[p.Series]][col[p.Latency]] = float64(p.Lost)
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
		return fmt.Errorf("report: sweep chart: %w", err)
	}
	b, err := p.Bytes()
	if err != nil {
		return fmt.Errorf("report: sweep chart: %w", err)
	}
	_, err = w.Write(b)
	return err
}
