package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestQuietGap(t *testing.T) {
	for _, tc := range []struct {
		i, n          int
		after, spread time.Duration
		want          time.Duration
	}{
		{0, 1, 5 * time.Second, 50 * time.Millisecond, 5 * time.Second},
		{0, 3, 5 * time.Second, 50 * time.Millisecond, 4950 * time.Millisecond},
		{1, 3, 5 * time.Second, 50 * time.Millisecond, 5 * time.Second},
		{2, 3, 5 * time.Second, 50 * time.Millisecond, 5050 * time.Millisecond},
	} {
		if got := quietGap(tc.i, tc.n, tc.after, tc.spread); got != tc.want {
			t.Errorf("quietGap(%d, %d) = %v, want %v", tc.i, tc.n, got, tc.want)
		}
	}
}

// TestQuietConnections: quiet connections whose gaps straddle a server's
// idle timeout lose the requests that cross its close (the ones sent just
// before it, arriving after); against a server without an idle timeout,
// or a longer one, none is lost. Every quiet connection sends again.
func TestQuietConnections(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idle     time.Duration
		wantLost bool
	}{
		{"idle timeout in the gaps", 300 * time.Millisecond, true},
		{"no idle timeout", 0, false},
		{"longer idle timeout", 2 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.IdleTimeout = tc.idle
			srv.Start()
			defer srv.Close()
			cfg := Config{Rate: 10, Duration: 1200 * time.Millisecond, Conns: 1,
				Quiet: 16, QuietAfter: 300 * time.Millisecond, QuietSpread: 40 * time.Millisecond, QuietLatency: 10 * time.Millisecond}
			rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			quiet, lost := 0, 0
			for _, r := range rs {
				if r.Kind != Quiet {
					continue
				}
				quiet++
				if r.Outcome.Lost() {
					lost++
					if r.Outcome != Reset && r.Outcome != EOF {
						t.Errorf("lost quiet request %+v: want reset or eof", r)
					}
				}
				if !r.Post {
					t.Errorf("quiet request %d is not a POST", r.Seq)
				}
			}
			if quiet < 32 {
				t.Errorf("%d quiet requests, want every one of the 16 connections to send at least twice", quiet)
			}
			if (lost > 0) != tc.wantLost {
				t.Errorf("%d of %d quiet requests lost, want lost: %v", lost, quiet, tc.wantLost)
			}
		})
	}
}
