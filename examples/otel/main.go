// Command otel exports the Drainer's Stats as OpenTelemetry metrics:
// observable instruments whose one callback takes a Stats snapshot per
// collection. Wire the MeterProvider to your exporter (OTLP, Prometheus);
// here it has none, so the example stays self-contained.
//
//	go run ./otel
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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	mp := sdkmetric.NewMeterProvider() // add sdkmetric.WithReader(your exporter's reader)
	defer mp.Shutdown(context.Background())
	if err := run(context.Background(), ln, drain.New(drain.Options{}), mp); err != nil {
		slog.Error("drain", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ln net.Listener, d *drain.Drainer, mp metric.MeterProvider) error {
	if err := Instrument(mp.Meter("github.com/drainhttp/drain"), d); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("GET /slow", slow)
	mux.Handle("GET /readyz", d.Ready())
	mux.Handle("GET /livez", d.Live())
	d.Add(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

// phases are the names Stats.Phase takes, in order.
var phases = []string{"serving", "lame-duck", "closing", "cancelling", "cleanup", "done"}

// Instrument registers drain.phase (1 for the current phase, by attribute
// "phase"), drain.connections (by "state"), drain.connections.accepted and
// drain.connections.closed (by "by"), all observed from one Stats snapshot
// per collection.
func Instrument(m metric.Meter, d *drain.Drainer) error {
	phase, err := m.Int64ObservableGauge("drain.phase", metric.WithDescription("1 for the Drainer's current phase"))
	if err != nil {
		return err
	}
	conns, err := m.Int64ObservableGauge("drain.connections", metric.WithDescription("open connections by state"))
	if err != nil {
		return err
	}
	accepted, err := m.Int64ObservableCounter("drain.connections.accepted", metric.WithDescription("connections accepted since Run began"))
	if err != nil {
		return err
	}
	closed, err := m.Int64ObservableCounter("drain.connections.closed", metric.WithDescription("connections closed, by who closed them"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := d.Stats()
		for _, p := range phases {
			v := int64(0)
			if p == st.Phase {
				v = 1
			}
			o.ObserveInt64(phase, v, metric.WithAttributes(attribute.String("phase", p)))
		}
		for state, n := range map[string]int{"new": st.New, "active": st.Active, "idle": st.Idle, "hijacked": st.Hijacked} {
			o.ObserveInt64(conns, int64(n), metric.WithAttributes(attribute.String("state", state)))
		}
		o.ObserveInt64(accepted, int64(st.Accepted))
		for by, n := range map[string]uint64{"peer": st.ClosedByPeer, "idle": st.ClosedIdle, "forced": st.ClosedForced, "idle_timeout": st.ClosedIdleTimeout} {
			o.ObserveInt64(closed, int64(n), metric.WithAttributes(attribute.String("by", by)))
		}
		return nil
	}, phase, conns, accepted, closed)
	return err
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
