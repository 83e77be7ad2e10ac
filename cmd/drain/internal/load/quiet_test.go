package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
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

// TestQuietH2: with --protocol h2c the quiet connections speak HTTP/2 too
// (one stream per gap): an HTTP/2 server's idle timeout (GOAWAY, then
// close) inside the gaps costs the streams that cross it, none without
// one, and the server sees every quiet request as HTTP/2.0.
func TestQuietH2(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idle     time.Duration
		wantLost bool
	}{
		{"idle timeout in the gaps", 300 * time.Millisecond, true},
		{"no idle timeout", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			protos := map[string]int{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				mu.Lock()
				protos[r.Proto]++
				mu.Unlock()
			}))
			srv.Config.IdleTimeout = tc.idle
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			defer srv.Close()
			cfg := Config{Rate: 10, Duration: 1200 * time.Millisecond, Conns: 1, Protocol: ProtocolH2C,
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
					if r.Outcome != GoAway && r.Outcome != Reset && r.Outcome != EOF {
						t.Errorf("lost quiet request %+v: want goaway, reset or eof", r)
					}
				}
			}
			if quiet < 32 {
				t.Errorf("%d quiet requests, want every one of the 16 connections to send at least twice", quiet)
			}
			if (lost > 0) != tc.wantLost {
				t.Errorf("%d of %d quiet requests lost, want lost: %v", lost, quiet, tc.wantLost)
			}
			mu.Lock()
			defer mu.Unlock()
			if protos["HTTP/1.1"] != 0 {
				t.Errorf("server saw %v: want every request (steady and quiet) over HTTP/2", protos)
			}
		})
	}
}
