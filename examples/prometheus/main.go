// Command prometheus exports the Drainer's Stats as Prometheus metrics: a
// Collector that takes one Stats snapshot per scrape. No hook is needed:
// the phase, the connection counts and the drain's start time are all in
// Stats, and a scrape during the drain still reaches /metrics (it is served
// until the listener closes; put it on an admin server added to the same
// Drainer to scrape it to the end).
//
//	go run ./prometheus && curl localhost:8080/metrics
package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/drainhttp/drain"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	if err := run(context.Background(), ln, drain.New(drain.Options{})); err != nil {
		slog.Error("drain", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ln net.Listener, d *drain.Drainer) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), NewCollector(d))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("GET /slow", slow)
	mux.Handle("GET /readyz", d.Ready())
	mux.Handle("GET /livez", d.Live())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	d.Add(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

// phases are the names Stats.Phase takes, in order (drain.Phase's String).
var phases = []string{"serving", "lame-duck", "closing", "cancelling", "cleanup", "done"}

// Collector exports a Drainer's Stats. It is safe for concurrent scrapes.
type Collector struct {
	d *drain.Drainer

	phase, conns, drainStart, drainElapsed *prometheus.Desc
	accepted, closed                       *prometheus.Desc
}

// NewCollector returns a Collector for d; register it once.
func NewCollector(d *drain.Drainer) *Collector {
	return &Collector{
		d: d,
		phase: prometheus.NewDesc("drain_phase",
			"1 for the Drainer's current phase, 0 for the others.", []string{"phase"}, nil),
		conns: prometheus.NewDesc("drain_connections",
			"Open connections by state (http2 counts HTTP/2 connections, also counted in their state).", []string{"state"}, nil),
		drainStart: prometheus.NewDesc("drain_started_timestamp_seconds",
			"When the drain began (Unix time); 0 while serving.", nil, nil),
		drainElapsed: prometheus.NewDesc("drain_elapsed_seconds",
			"Time since the drain began, or its total once done; 0 while serving.", nil, nil),
		accepted: prometheus.NewDesc("drain_connections_accepted_total",
			"Connections accepted since Run began.", nil, nil),
		closed: prometheus.NewDesc("drain_connections_closed_total",
			"Connections closed, by who closed them: peer, idle (the drain's idle policy), forced (deadline or second signal), idle_timeout (keep-alive timeout while serving).", []string{"by"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.phase, c.conns, c.drainStart, c.drainElapsed, c.accepted, c.closed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Stats snapshot per scrape,
// so the numbers of one scrape agree with each other.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.Stats()
	for _, p := range phases {
		v := 0.0
		if p == st.Phase {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, v, p)
	}
	for state, n := range map[string]int{
		"new": st.New, "active": st.Active, "idle": st.Idle, "hijacked": st.Hijacked, "http2": st.HTTP2,
	} {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(n), state)
	}
	started := 0.0
	if !st.DrainStarted.IsZero() {
		started = float64(st.DrainStarted.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.drainStart, prometheus.GaugeValue, started)
	ch <- prometheus.MustNewConstMetric(c.drainElapsed, prometheus.GaugeValue, st.DrainElapsed.Seconds())
	ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(st.Accepted))
	for by, n := range map[string]uint64{
		"peer": st.ClosedByPeer, "idle": st.ClosedIdle, "forced": st.ClosedForced, "idle_timeout": st.ClosedIdleTimeout,
	} {
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(n), by)
	}
}

// slow stands for real work: it answers in two parts, 100 ms apart.
func slow(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "start\n")
	http.NewResponseController(w).Flush()
	select {
	case <-time.After(100 * time.Millisecond):
		io.WriteString(w, "done\n")
	case <-r.Context().Done():
	}
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
