package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// hooks is rollout.Hooks, restated so this test does not depend on the
// rollout package: a *Client must be usable as one.
type hooks interface {
	BeforeStop(replica int32, addr string)
	AfterStop(replica int32, at time.Time)
}

var _ hooks = (*Client)(nil)

// arrival is a request as the server saw it complete.
type arrival struct {
	at       time.Time
	halfSent bool // carried the X-A header of a half-sent request
	slowBody bool // a POST with the slow body
}

type arrivals struct {
	mu sync.Mutex
	a  []arrival
}

func (a *arrivals) handler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.a = append(a.a, arrival{at: time.Now(), halfSent: r.Header.Get("X-A") == "1", slowBody: string(b) == slowBody})
	a.mu.Unlock()
}

func byKind(rs []Result) map[Kind][]Result {
	m := map[Kind][]Result{}
	for _, r := range rs {
		m[r.Kind] = append(m[r.Kind], r)
	}
	return m
}

// runWithStop runs cfg against target and, once the run has begun, calls
// BeforeStop(5, addr), then stop (the test's SIGTERM), then AfterStop.
func runWithStop(t *testing.T, cfg Config, target endpoint.Target, addr string, stop func()) ([]Result, time.Time) {
	t.Helper()
	st := &signalTarget{Target: target, started: make(chan struct{})}
	c, err := NewClient(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	var h hooks = c
	type out struct {
		rs  []Result
		err error
	}
	done := make(chan out)
	go func() {
		rs, err := c.Run(context.Background())
		done <- out{rs, err}
	}()
	<-st.started
	h.BeforeStop(5, addr)
	stop()
	at := time.Now()
	h.AfterStop(5, at)
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.rs, at
}

var hardCfg = Config{
	Rate: 20, Duration: time.Second, Conns: 1,
	Idle: 2, HalfSent: 3, SlowBody: 2,
	HalfSentAfter: 50 * time.Millisecond, IdleAfter: 100 * time.Millisecond, SlowBodyFor: 80 * time.Millisecond,
}

// TestHardCasesServed: a server that keeps serving through the "SIGTERM"
// completes every hard case, each at its delay after the stop.
func TestHardCasesServed(t *testing.T) {
	var a arrivals
	srv := newHTTPServer(t, http.HandlerFunc(a.handler))
	addr := srv.Addr().String()
	rs, at := runWithStop(t, hardCfg, staticTarget{ep: endpoint.Endpoint{Addr: addr, Replica: 1}}, addr, func() {})

	k := byKind(rs)
	// The setup GETs are steady traffic; one hard-case result per connection.
	if n := len(k[Idle]); n != 2 {
		t.Errorf("%d idle results, want 2 after the stop", n)
	}
	if n := len(k[HalfSent]); n != 3 {
		t.Errorf("%d half-sent results, want 3 after the stop", n)
	}
	if n := len(k[SlowBody]); n != 2 {
		t.Errorf("%d slow-body results, want 2", n)
	}
	for _, r := range rs {
		if r.Outcome != OK || r.Status != 200 {
			t.Errorf("result %+v not OK", r)
		}
		if r.Kind != Steady && (r.Replica != 5 || r.Seq < 20) {
			t.Errorf("hard-case result %+v: want replica 5 and a seq after the steady ones", r)
		}
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Intended < rs[i-1].Intended {
			t.Fatalf("results not sorted by Intended at %d", i)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var half, slow int
	for _, x := range a.a {
		switch {
		case x.halfSent:
			half++
			if x.at.Before(at.Add(hardCfg.HalfSentAfter)) {
				t.Errorf("half-sent request complete %v after the stop, before HalfSentAfter", x.at.Sub(at))
			}
		case x.slowBody:
			slow++
			if x.at.Before(at.Add(hardCfg.SlowBodyFor)) {
				t.Errorf("slow body complete %v after the stop, before SlowBodyFor", x.at.Sub(at))
			}
		}
	}
	if half != 3 || slow != 2 {
		t.Errorf("server completed %d half-sent and %d slow-body requests, want 3 and 2", half, slow)
	}
}

// TestHardCasesStdlibShutdown: net/http's Shutdown at the "SIGTERM" closes
// idle connections, including those with half-sent headers, so those
// requests are lost, while the slow bodies (active) complete.
func TestHardCasesStdlibShutdown(t *testing.T) {
	var a arrivals
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A request whose headers net/http parses after Shutdown began is
	// dropped unanswered (server.go: "if c.server.shuttingDown() {
	// return }"), so the stop waits until the slow bodies' handlers run.
	slowStarted := make(chan struct{}, hardCfg.SlowBody)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			slowStarted <- struct{}{}
		}
		a.handler(w, r)
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	shut := make(chan error, 1)
	addr := ln.Addr().String()
	rs, _ := runWithStop(t, hardCfg, staticTarget{ep: endpoint.Endpoint{Addr: addr, Replica: 1}}, addr, func() {
		for range hardCfg.SlowBody {
			<-slowStarted
		}
		go func() { shut <- srv.Shutdown(context.Background()) }()
	})
	if err := <-shut; err != nil {
		t.Error(err)
	}
	<-served

	k := byKind(rs)
	// The setup GETs come before the stop and succeed; the requests after
	// it on idle and half-sent connections find them closed.
	for _, kind := range []Kind{Idle, HalfSent} {
		var ok, lost int
		for _, r := range k[kind] {
			if r.Outcome == OK {
				ok++
			} else if r.Outcome == EOF || r.Outcome == Reset {
				lost++
			} else {
				t.Errorf("%v result %+v", kind, r)
			}
		}
		want := hardCfg.Idle
		if kind == HalfSent {
			want = hardCfg.HalfSent
		}
		if ok != 0 || lost != want {
			t.Errorf("%v: %d ok, %d lost; want 0 and %d", kind, ok, lost, want)
		}
	}
	for _, r := range k[SlowBody] {
		if r.Outcome != OK {
			t.Errorf("slow body result %+v, want OK: Shutdown waits for active requests", r)
		}
	}
	if len(k[SlowBody]) != hardCfg.SlowBody {
		t.Errorf("%d slow-body results", len(k[SlowBody]))
	}
}

// TestHooksOutsideRun: the hooks do nothing between runs (and do not block).
func TestHooksOutsideRun(t *testing.T) {
	var a arrivals
	srv := newHTTPServer(t, http.HandlerFunc(a.handler))
	c, err := NewClient(Config{Rate: 1, Duration: time.Second}, staticTarget{})
	if err != nil {
		t.Fatal(err)
	}
	c.BeforeStop(1, srv.Addr().String())
	c.AfterStop(1, time.Now())
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.a) != 0 {
		t.Errorf("server got %d requests", len(a.a))
	}
}

// newHTTPServer is an http.Server on 127.0.0.1 that closes (not
// drains) at cleanup; it returns the listener for its address.
func newHTTPServer(t *testing.T, h http.Handler) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln
}
