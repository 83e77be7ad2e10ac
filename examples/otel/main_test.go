package main

import (
	"context"
	"net"
	"testing"

	"github.com/drainhttp/drain"
	"github.com/drainhttp/drain/examples/internal/examplestest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestMetricsDuringDrain collects in the lame duck: drain.phase is 1 for
// lame-duck and 0 for serving, and nothing was closed by force.
func TestMetricsDuringDrain(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	runWith := func(ctx context.Context, ln net.Listener, d *drain.Drainer) error { return run(ctx, ln, d, mp) }
	examplestest.Check(t, runWith, examplestest.Stop, func(examplestest.Result) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch data := m.Data.(type) {
				case metricdata.Gauge[int64]:
					for _, dp := range data.DataPoints {
						got[m.Name+label(dp.Attributes)] = dp.Value
					}
				case metricdata.Sum[int64]:
					for _, dp := range data.DataPoints {
						got[m.Name+label(dp.Attributes)] = dp.Value
					}
				}
			}
		}
		for name, want := range map[string]int64{
			"drain.phase{phase=lame-duck}":        1,
			"drain.phase{phase=serving}":          0,
			"drain.connections.closed{by=forced}": 0,
		} {
			if v, ok := got[name]; !ok || v != want {
				t.Errorf("%s = %d (present %v), want %d; all: %v", name, v, ok, want, got)
			}
		}
		if got["drain.connections.accepted"] == 0 || got["drain.connections{state=active}"] == 0 {
			t.Errorf("accepted %d, active %d: want > 0", got["drain.connections.accepted"], got["drain.connections{state=active}"])
		}
	})
}

func label(s attribute.Set) string {
	if s.Len() == 0 {
		return ""
	}
	kv, _ := s.Get(0)
	return "{" + string(kv.Key) + "=" + kv.Value.String() + "}"
}
