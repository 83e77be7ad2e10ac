package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/drainhttp/drain/examples/internal/examplestest"
)

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDrainsOnStop(t *testing.T) { examplestest.Check(t, run, examplestest.Stop, nil) }

// TestMetricsDuringDrain scrapes /metrics in the lame duck: the phase
// gauge has moved, the drain's start time is set, in-flight requests show
// as active connections, and nothing was closed by force.
func TestMetricsDuringDrain(t *testing.T) {
	examplestest.Check(t, run, examplestest.Cancel, func(r examplestest.Result) {
		m := scrape(t, r.Base)
		for name, want := range map[string]string{
			`drain_phase{phase="serving"}`:                "0",
			`drain_phase{phase="lame-duck"}`:              "1",
			`drain_connections_closed_total{by="forced"}`: "0",
		} {
			if got, ok := examplestest.Metric(m, name); got != want {
				t.Errorf("%s = %q (present %v), want %s", name, got, ok, want)
			}
		}
		for _, name := range []string{`drain_started_timestamp_seconds`, `drain_connections{state="active"}`, `drain_connections_accepted_total`} {
			if got, ok := examplestest.Metric(m, name); !ok || got == "0" {
				t.Errorf("%s = %q (present %v), want > 0", name, got, ok)
			}
		}
	})
}
