package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

func TestResultSize(t *testing.T) {
	// The per-request memory the Run docs promise.
	if got := unsafe.Sizeof(Result{}); got != 48 {
		t.Errorf("Result is %d bytes, want 48", got)
	}
}

func httpTarget(t *testing.T, srv *httptest.Server) endpoint.Target {
	t.Helper()
	return staticTarget{ep: endpoint.Endpoint{Addr: srv.Listener.Addr().String(), Replica: 3}}
}

func countOutcomes(rs []Result) map[Outcome]int {
	m := map[Outcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

// checkSchedule checks the open-loop contract: exactly one Result per
// scheduled request, in order, each at its intended time.
func checkSchedule(t *testing.T, cfg Config, rs []Result) {
	t.Helper()
	s := Schedule{Rate: cfg.Rate, Duration: cfg.Duration}
	if uint64(len(rs)) != s.Total() {
		t.Fatalf("%d results, want %d", len(rs), s.Total())
	}
	for i, r := range rs {
		if r.Seq != uint64(i) || r.Intended != s.At(r.Seq) || r.Kind != Steady {
			t.Fatalf("result %d: %+v, want seq %d intended %v", i, r, i, s.At(uint64(i)))
		}
		if r.Sent < r.Intended || r.Done < r.Sent {
			t.Fatalf("result %d: times out of order: %+v", i, r)
		}
	}
}

func TestRunSteady(t *testing.T) {
	var gets, posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			if string(b) != postBody {
				t.Errorf("POST body %q", b)
			}
			posts.Add(1)
			w.Write([]byte("a chunked answer")) // no Content-Length:
			w.(http.Flusher).Flush()            // chunked encoding
			return
		}
		gets.Add(1)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	cfg := Config{Rate: 200, Duration: 500 * time.Millisecond, Conns: 2, PostRatio: 0.25}
	c, err := NewClient(cfg, httpTarget(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, cfg, rs)
	conns := map[uint32]bool{}
	for _, r := range rs {
		if r.Outcome != OK || r.Status != 200 || r.Replica != 3 || r.ConnClose {
			t.Errorf("result %+v", r)
		}
		if r.Post != isPost(r.Seq, 0.25) {
			t.Errorf("result %d: Post %v", r.Seq, r.Post)
		}
		if r.NewConn == conns[r.Conn] {
			t.Errorf("result %d: NewConn %v on conn %d", r.Seq, r.NewConn, r.Conn)
		}
		conns[r.Conn] = true
	}
	if len(conns) > 2 {
		t.Errorf("%d connections, want at most Conns=2 (persistent)", len(conns))
	}
	if gets.Load() != 75 || posts.Load() != 25 {
		t.Errorf("server saw %d GET, %d POST; want 75, 25", gets.Load(), posts.Load())
	}
	p := c.Progress()
	if p != (Progress{Total: 100, Sent: 100, OK: 100}) {
		t.Errorf("Progress() = %+v", p)
	}
}

// TestNoCoordinatedOmission stalls the server for 200ms: the requests that
// came due meanwhile queue behind the busy connection, keep their intended
// times and show the stall as latency; none is skipped or shifted.
func TestNoCoordinatedOmission(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 60 {
			time.Sleep(200 * time.Millisecond) // the stall under test
		}
	}))
	defer srv.Close()
	cfg := Config{Rate: 200, Duration: time.Second, Conns: 1}
	rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, cfg, rs)
	if got := countOutcomes(rs)[OK]; got != len(rs) {
		t.Errorf("%d of %d OK", got, len(rs))
	}
	stalled := rs[59]
	if stalled.Latency() < 200*time.Millisecond {
		t.Errorf("stalled request latency %v", stalled.Latency())
	}
	// Request 60 came due 5ms into the stall and waited for it.
	next := rs[60]
	if next.Sent < stalled.Done || next.Latency() < 190*time.Millisecond {
		t.Errorf("queued request %+v (latency %v) after stalled %+v", next, next.Latency(), stalled)
	}
}

func TestRunNoReuse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cfg := Config{Rate: 100, Duration: 200 * time.Millisecond, Conns: 2, NoReuse: true}
	rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, cfg, rs)
	conns := map[uint32]bool{}
	for _, r := range rs {
		if r.Outcome != OK || !r.NewConn || conns[r.Conn] {
			t.Errorf("result %+v: want OK on a new connection of its own", r)
		}
		conns[r.Conn] = true
	}
}

// TestConnectionClose: a response with Connection: close ends the
// connection; the next request on that slot dials a new one.
func TestConnectionClose(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn) {
		serveHTTP(c, func(n int, _ *http.Request) []byte {
			if n == 2 {
				return []byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
			}
			return []byte(okResponse)
		})
	})
	cfg := Config{Rate: 100, Duration: 100 * time.Millisecond, Conns: 1}
	rs, err := Run(context.Background(), cfg, srv.target())
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, cfg, rs)
	for i, r := range rs {
		wantClose := i%3 == 2
		wantNew := i%3 == 0
		if r.Outcome != OK || r.ConnClose != wantClose || r.NewConn != wantNew || r.Replica != 7 {
			t.Errorf("result %d: %+v; want ConnClose %v NewConn %v", i, r, wantClose, wantNew)
		}
	}
}

// TestIdleCloseNoticed: the server closes each keep-alive connection (FIN)
// after its response without saying so; the pool notices while the
// connection is idle and dials anew, so nothing is lost and nothing retried.
func TestIdleCloseNoticed(t *testing.T) {
	var requests atomic.Int64
	srv := newRawServer(t, func(c net.Conn) {
		serveHTTP(c, func(n int, _ *http.Request) []byte {
			requests.Add(1)
			if n == 0 {
				c.Write([]byte(okResponse))
			}
			return nil // close
		})
	})
	cfg := Config{Rate: 20, Duration: 250 * time.Millisecond, Conns: 1}
	rs, err := Run(context.Background(), cfg, srv.target())
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, cfg, rs)
	for _, r := range rs {
		if r.Outcome != OK || !r.NewConn {
			t.Errorf("result %+v: want OK on a new connection", r)
		}
	}
	if got := requests.Load(); got != int64(len(rs)) {
		t.Errorf("server got %d requests for %d results: a retry or a write into a dead socket", got, len(rs))
	}
}

// TestIdleProbe checks the probe itself against a connection whose peer
// has certainly closed (the server's Close returned before we probe).
func TestIdleProbe(t *testing.T) {
	closed := make(chan struct{})
	release := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn) {
		serveHTTP(c, func(n int, r *http.Request) []byte {
			if r.Header.Get("X-Close") == "" {
				return []byte(okResponse)
			}
			c.Write([]byte(okResponse))
			c.Close()
			close(closed)
			<-release
			return nil
		})
	})
	defer close(release)
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: srv.addr()})
	defer c.close()
	deadline := time.Now().Add(5 * time.Second)
	if _, err := c.exchange(Request{}.bytes("GET", "x"), deadline); err != nil {
		t.Fatal(err)
	}
	if !c.idle.usable() {
		t.Fatal("open idle connection not usable")
	}
	if _, err := c.exchange([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Close: 1\r\n\r\n"), deadline); err != nil {
		t.Fatal(err)
	}
	<-closed
	if c.idle.usable() {
		t.Fatal("connection closed by the server is usable")
	}
}

// TestClassification runs requests against servers that fail in each way
// and checks the Outcome recorded where the failure is seen.
func TestClassification(t *testing.T) {
	respond := func(b string) func(net.Conn) {
		return func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte { return []byte(b) })
		}
	}
	closedAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tests := []struct {
		name    string
		handle  func(net.Conn) // nil: nothing listens
		timeout time.Duration
		want    Outcome
		status  uint16
		expect  string // Request.Expect; "" is the default, 2xx
	}{
		{"reset", func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte {
				c.(*net.TCPConn).SetLinger(0)
				return nil
			})
		}, 0, Reset, 0, ""},
		{"close before responding", func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte { return nil })
		}, 0, EOF, 0, ""},
		{"half-close before responding", func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte {
				c.(*net.TCPConn).CloseWrite()
				return nil
			})
		}, 0, EOF, 0, ""},
		{"cut body", func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte {
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
				return nil
			})
		}, 0, EOF, 0, ""},
		{"503", respond("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"), 0, Status503, 503, ""},
		{"502", respond("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"), 0, Status502, 502, ""},
		{"504", respond("HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n"), 0, Status504, 504, ""},
		{"500", respond("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"), 0, Status5xx, 500, ""},
		{"404 is lost", respond("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), 0, Status4xx, 404, ""},
		{"401 is lost", respond("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"), 0, Status4xx, 401, ""},
		{"302 is lost", respond("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"), 0, StatusOther, 302, ""},
		{"204 is ok", respond("HTTP/1.1 204 No Content\r\n\r\n"), 0, OK, 204, ""},
		{"404 expected", respond("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), 0, OK, 404, "200,404"},
		{"200 not expected", respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0, StatusOther, 200, "204"},
		{"503 expected", respond("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"), 0, OK, 503, "2xx,503"},
		{"malformed", respond("HTTP/1.1 OK\r\n\r\n"), 0, Other, 0, ""},
		{"never answers", func(c net.Conn) {
			serveHTTP(c, func(int, *http.Request) []byte {
				io.Copy(io.Discard, c) // until the client gives up
				return nil
			})
		}, 100 * time.Millisecond, Timeout, 0, ""},
		{"refused", nil, 0, Refused, 0, ""},
	}
	for _, tt := range tests {
		for _, client := range []string{ClientRaw, ClientGo} {
			t.Run(tt.name+"/"+client, func(t *testing.T) {
				if client == ClientGo && tt.name == "malformed" {
					t.Skip("net/http's error for a malformed status line wraps nothing")
				}
				var target endpoint.Target
				if tt.handle == nil {
					target = staticTarget{ep: endpoint.Endpoint{Addr: closedAddr(), Replica: 7}}
				} else {
					target = newRawServer(t, tt.handle).target()
				}
				cfg := Config{Rate: 100, Duration: 30 * time.Millisecond, Conns: 3, RequestTimeout: tt.timeout, Client: client}
				if tt.expect != "" {
					var err error
					if cfg.Request.Expect, err = ParseStatusSet(tt.expect); err != nil {
						t.Fatal(err)
					}
				}
				rs, err := Run(context.Background(), cfg, target)
				if err != nil {
					t.Fatal(err)
				}
				checkSchedule(t, cfg, rs)
				for _, r := range rs {
					// A failed connection is never reused.
					if r.Outcome != tt.want || r.Status != tt.status || r.Replica != 7 || (tt.status == 0 && !r.NewConn) {
						t.Errorf("result %+v, want outcome %v status %d", r, tt.want, tt.status)
					}
					if tt.want == Timeout && (r.Latency() < tt.timeout || r.Latency() > tt.timeout+time.Second) {
						t.Errorf("timeout after %v, want about %v", r.Latency(), tt.timeout)
					}
				}
			})
		}
	}
}

func TestNoEndpointIsRefused(t *testing.T) {
	rs, err := Run(context.Background(), Config{Rate: 100, Duration: 20 * time.Millisecond}, staticTarget{empty: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Refused || r.Replica != -1 {
			t.Errorf("result %+v, want refused with replica -1", r)
		}
	}
}

// TestTimeoutBoundsTheRun: against a server that never answers, requests
// queued behind the stuck connection time out from their intended time, so
// the run ends within Duration + RequestTimeout and every request counts.
func TestTimeoutBoundsTheRun(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	cfg := Config{Rate: 50, Duration: 200 * time.Millisecond, Conns: 1, RequestTimeout: 100 * time.Millisecond}
	start := time.Now()
	rs, err := Run(context.Background(), cfg, srv.target())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > cfg.Duration+cfg.RequestTimeout+time.Second {
		t.Errorf("run took %v", took)
	}
	checkSchedule(t, cfg, rs)
	for _, r := range rs {
		if r.Outcome != Timeout || r.Latency() > cfg.RequestTimeout+time.Second {
			t.Errorf("result %+v (latency %v), want a timeout", r, r.Latency())
		}
	}
}

// TestCancel: cancelling ctx stops the run at once, even with requests
// stuck for the whole (long) request timeout, and leaves no goroutine.
func TestCancel(t *testing.T) {
	got := make(chan struct{}, 100)
	srv := newRawServer(t, func(c net.Conn) {
		serveHTTP(c, func(int, *http.Request) []byte {
			got <- struct{}{}
			io.Copy(io.Discard, c)
			return nil
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got
		cancel()
	}()
	start := time.Now()
	rs, err := Run(ctx, Config{Rate: 100, Duration: time.Minute, Conns: 2}, srv.target())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v after cancel", took)
	}
	if len(rs) != 0 {
		t.Errorf("%d results recorded; the requests in flight must be dropped: %+v", len(rs), rs)
	}
}

func TestRunning(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	st := &signalTarget{Target: srv.target(), started: make(chan struct{})}
	c, err := NewClient(Config{Rate: 10, Duration: time.Minute}, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Run(ctx)
		done <- err
	}()
	<-st.started
	if _, err := c.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	cancel()
	<-done
	// Reusable: a new run after the first.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	if _, err := c.Run(ctx2); errors.Is(err, ErrRunning) {
		t.Errorf("Run after Run: %v", err)
	}
}

func TestConfig(t *testing.T) {
	bad := []Config{
		{},
		{Rate: 0, Duration: time.Second},
		{Rate: -1, Duration: time.Second},
		{Rate: 1},
		{Rate: 1, Duration: time.Second, Conns: -1},
		{Rate: 1, Duration: time.Second, PostRatio: 1.5},
		{Rate: 1, Duration: time.Second, Client: "curl"},
		{Rate: 1, Duration: time.Second, RequestTimeout: -1},
		{Rate: 1, Duration: time.Second, IdleAfter: -1},
		{Rate: 1e9, Duration: time.Hour},
	}
	for _, cfg := range bad {
		if _, err := NewClient(cfg, staticTarget{}); !errors.Is(err, ErrConfig) {
			t.Errorf("NewClient(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	c, err := NewClient(Config{Rate: 1, Duration: time.Second, HalfSent: -1}, staticTarget{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Rate: 1, Duration: time.Second, Conns: DefaultConns, RequestTimeout: DefaultRequestTimeout,
		Client: ClientRaw, Protocol: ProtocolH1, H2Conns: DefaultH2Conns, Idle: DefaultIdle, HalfSent: 0, SlowBody: DefaultSlowBody,
		HalfSentAfter: DefaultHalfSentAfter, IdleAfter: DefaultIdleAfter, SlowBodyFor: DefaultSlowBodyFor,
		QuietAfter: DefaultQuietAfter, QuietSpread: DefaultQuietSpread, QuietLatency: DefaultQuietLatency}
	if got := c.Config(); !reflect.DeepEqual(got, want) { // Dial is a func: not comparable with !=
		t.Errorf("defaults: got %+v\nwant %+v", got, want)
	}
}

// TestClientGoRetriesHideLoss: the server drops every second request on a
// connection (closes without answering). The raw client records each as
// lost; net/http's Transport silently retries the GETs on a new connection.
func TestClientGoRetriesHideLoss(t *testing.T) {
	var requests atomic.Int64
	srv := newRawServer(t, func(c net.Conn) {
		serveHTTP(c, func(n int, _ *http.Request) []byte {
			requests.Add(1)
			if n == 1 {
				return nil
			}
			return []byte(okResponse)
		})
	})
	for _, tt := range []struct {
		client    string
		postRatio float64
		wantLost  bool
	}{
		{ClientRaw, 0, true},
		{ClientGo, 0, false},
		{ClientGo, 1, true}, // POST is not retried
	} {
		t.Run(fmt.Sprintf("%s/post=%v", tt.client, tt.postRatio), func(t *testing.T) {
			requests.Store(0)
			cfg := Config{Rate: 40, Duration: 250 * time.Millisecond, Conns: 1, Client: tt.client, PostRatio: tt.postRatio}
			rs, err := Run(context.Background(), cfg, srv.target())
			if err != nil {
				t.Fatal(err)
			}
			checkSchedule(t, cfg, rs)
			oc := countOutcomes(rs)
			if lost := len(rs) - oc[OK]; (lost > 0) != tt.wantLost {
				t.Errorf("outcomes %v, want lost: %v", oc, tt.wantLost)
			}
			if tt.wantLost && oc[EOF] != len(rs)-oc[OK] {
				t.Errorf("outcomes %v, want the losses as EOF", oc)
			}
			if !tt.wantLost && requests.Load() <= int64(len(rs)) {
				t.Errorf("server saw %d requests for %d results: no retry?", requests.Load(), len(rs))
			}
		})
	}
}
