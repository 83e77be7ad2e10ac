package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain"
)

// TestFastServesOrHandsOver: the fast path serves plain HTTP/1.1 requests
// and hands every other kind, with the bytes it has read, to net/http,
// which answers as it would alone.
func TestFastServesOrHandsOver(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	}))
	addr, _, _, f := frontWith(t, up, Config{}, &FastConfig{ReadyPath: "/health"})
	many := strings.Repeat("X-Field: 1\r\n", fastMaxFields+1)
	for _, tc := range []struct {
		name, raw, method string
		fast              bool
		status            int
		body              string
	}{
		{"get", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET", true, 200, "GET /a 0"},
		{"post-small-body", "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "POST", true, 200, "POST /b 3"},
		{"head", "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD", true, 200, ""},
		{"http/1.0", "GET /d HTTP/1.0\r\nHost: x\r\n\r\n", "GET", false, 200, "GET /d 0"},
		{"chunked-upload", "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", false, 200, "POST /e 3"},
		{"large-upload", "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("z", 20000), "POST", false, 200, "POST /f 20000"},
		{"expect", "POST /g HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab", "POST", false, 100, ""},
		{"ready-path", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false, 200, "GET /health 0"},
		{"ready-path-escaped", "GET /heal%74h HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false, 200, "GET /health 0"},
		{"absolute-form", "GET http://x/h HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false, 200, "GET /h 0"},
		{"no-host", "GET /i HTTP/1.1\r\n\r\n", "GET", false, 400, ""},
		{"two-hosts", "GET /j HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "GET", false, 400, ""},
		{"many-fields", "GET /k HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", "GET", false, 200, "GET /k 0"},
		{"bad-field-name", "GET /l HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", "GET", false, 400, ""},
		{"bad-escape", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false, 400, ""},
		{"host-with-bad-byte", "GET /n HTTP/1.1\r\nHost: x<y\r\n\r\n", "GET", false, 400, ""},
		{"good-escape", "GET /o%20p HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET", true, 200, "GET /o p 0"},
		{"upgrade", "GET /m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", "GET", false, 200, "GET /m 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served, handed := f.Counts()
			res, body := roundTrip(t, addr, tc.raw, tc.method)
			if res.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tc.status, tc.body)
			}
			s2, h2 := f.Counts()
			if tc.fast && (s2 != served+1 || h2 != handed) {
				t.Errorf("fast path served %d, handed %d: want it served", s2-served, h2-handed)
			}
			if !tc.fast && (s2 != served || h2 != handed+1) {
				t.Errorf("fast path served %d, handed %d: want it handed over", s2-served, h2-handed)
			}
		})
	}
}

// TestFastTimeouts: a connection idle past KeepAlive, and one whose head
// is not complete ReadHeaderTimeout after its first byte, are closed.
func TestFastTimeouts(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	addr, _, _, _ := frontWith(t, up, Config{}, &FastConfig{KeepAlive: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 300 * time.Millisecond})
	idle := dial(t, addr)
	fmt.Fprint(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res := readResponse(t, idle, "GET")
	io.ReadAll(res.Body)
	if got := res.Header.Get("Keep-Alive"); got != "timeout=1" {
		t.Errorf("Keep-Alive hint %q, want timeout=1", got)
	}
	slow := dial(t, addr)
	fmt.Fprint(slow, "GET / HTTP/1.1\r\nHo")
	for name, c := range map[string]*bufConn{"idle": idle, "slow head": slow} {
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.r.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s connection: read %d, %v; want EOF (closed by the proxy)", name, n, err)
		}
		t.Logf("%s connection closed after %v", name, time.Since(start).Round(time.Millisecond))
	}
}

// TestFastNoIdleCloseByDefault: with only the keep-alive hint set, a
// connection idle for longer than the hint is still served, as a plain
// net/http server (IdleTimeout 0) would serve it: closing it would race a
// client that ignores the hint (issue 14's steady-state loss).
func TestFastNoIdleCloseByDefault(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	addr, _, _, _ := frontWith(t, up, Config{}, &FastConfig{KeepAlive: 200 * time.Millisecond})
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res := readResponse(t, c, "GET")
	io.ReadAll(res.Body)
	if got := res.Header.Get("Keep-Alive"); got != "timeout=1" {
		t.Errorf("Keep-Alive hint %q, want timeout=1", got)
	}
	// Nothing to wait for: the assertion is that no close comes. Five
	// times the hint, and more than the watcher's 100 ms minimum period.
	time.Sleep(time.Second)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res = readResponse(t, c, "GET")
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("second request after 1 s idle: %d %q", res.StatusCode, b)
	}
}

// drainFront serves p behind the fast path under a Drainer, as drain exec
// does, and returns the address, the fast path, the Drainer and Run's
// result.
func drainFront(t *testing.T, up string, opts drain.Options) (string, *Fast, *drain.Drainer, <-chan error) {
	t.Helper()
	return drainFrontWith(t, up, opts, FastConfig{}, 0)
}

// drainFrontWith is drainFront with the fast path's configuration and
// net/http's ReadHeaderTimeout, which drain exec sets to the same value.
func drainFrontWith(t *testing.T, up string, opts drain.Options, fc FastConfig, readHeader time.Duration) (string, *Fast, *drain.Drainer, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Upstream: up, Log: quietLog})
	f := p.NewFast(Listener(ln, quietLog), fc)
	opts.Signals = []os.Signal{}
	opts.Logger = quietLog
	d := drain.New(opts)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: readHeader, ErrorLog: slog.NewLogLogger(quietLog.Handler(), slog.LevelError)}
	d.Add(srv, f.Listener())
	fastDone := make(chan error, 1)
	go func() { fastDone <- f.Serve(d.Draining(), d.Hold) }()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(context.Background()) }()
	t.Cleanup(func() {
		d.Stop()
		d.Stop()
		<-fastDone
		p.CloseIdleConnections()
	})
	return ln.Addr().String(), f, d, runErr
}

// TestFastDrainIdleConnection: a request sent on an idle fast connection
// as the drain begins (racing the hand-over to net/http) is answered, with "Connection: close", and the
// connection is then closed: whether the fast path or net/http (after the
// hand-over) gets it, nothing is lost.
func TestFastDrainIdleConnection(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for i := range 20 {
		addr, f, d, runErr := drainFront(t, up, drain.Options{Idle: drain.IdleOneMore, Delay: -1, Deadline: 5 * time.Second})
		c := dial(t, addr)
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res := readResponse(t, c, "GET")
		io.ReadAll(res.Body)
		if served, _ := f.Counts(); served != 1 || res.Header.Get("Connection") == "close" {
			t.Fatalf("before the drain: fast path served %d, Connection %q", served, res.Header.Get("Connection"))
		}
		d.Stop()
		<-d.Draining() // Stop only asks: a request before this is served as usual
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res = readResponse(t, c, "GET")
		b, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != "ok" || err != nil || !res.Close {
			t.Fatalf("run %d: request at the drain's start: %d %q %v, close %v", i, res.StatusCode, b, err, res.Close)
		}
		if n, err := c.r.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("run %d: after Connection: close: read %d, %v; want EOF", i, n, err)
		}
		if err := <-runErr; err != nil {
			t.Fatalf("run %d: Run: %v", i, err)
		}
	}
}

// TestFastDrainQuietKeepAlive: a keep-alive connection that is quiet when
// the drain begins, and stays quiet for longer than the read-header
// timeout, keeps what the keep-alive hint (60 s) promised: its next request
// is answered, with "Connection: close", not cut. The hand-over makes it a
// new connection for net/http, which arms a new connection's head deadline
// at once (only between requests does it wait for a first byte); that
// closed such connections read-header-timeout after the drain began (bench/scale:
// 1 918 of 19 000 lost 10 s into the drain). A head that starts after the
// quiet and trickles is still cut, the timeout after its first byte.
func TestFastDrainQuietKeepAlive(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	const readHeader = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"lame-duck", 10 * time.Second}, {"no-lame-duck", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := drain.Options{Delay: tc.delay, KeepAlive: time.Minute, Deadline: 30 * time.Second}
			addr, f, d, runErr := drainFrontWith(t, up, opts, FastConfig{KeepAlive: time.Minute, ReadHeaderTimeout: readHeader}, readHeader)
			c, slow := dial(t, addr), dial(t, addr)
			for _, c := range []*bufConn{c, slow} {
				fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				res := readResponse(t, c, "GET")
				io.ReadAll(res.Body)
			}
			if served, _ := f.Counts(); served != 2 {
				t.Fatalf("fast path served %d before the drain, want 2", served)
			}
			d.Stop()
			<-d.Draining()
			// The condition under test is the quiet itself: longer than
			// the read-header timeout, well within the keep-alive.
			time.Sleep(4 * readHeader)
			if _, handed := f.Counts(); handed != 2 {
				t.Fatalf("fast path handed %d connections to net/http at the drain, want 2", handed)
			}
			// A head that then trickles is still cut, the read-header
			// timeout after its first byte.
			fmt.Fprint(slow, "GET / HTTP/1.1\r\nHo")
			start := time.Now()
			// net/http answers a timed-out head with 400 and closes.
			b, err := io.ReadAll(slow.r)
			if took := time.Since(start); err != nil || (len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 ")) || took > 10*readHeader {
				t.Errorf("head trickling after the quiet: read %q, %v, closed after %v; want a close (or 400) after about %v", b, err, took, readHeader)
			}
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			res, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("request %v after the drain began on a connection promised 60 s: %v; want an answer", 4*readHeader, err)
			}
			b, err = io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(b) != "ok" || err != nil || !res.Close {
				t.Fatalf("request after the quiet: %d %q %v, close %v; want 200 \"ok\" with Connection: close", res.StatusCode, b, err, res.Close)
			}
			d.Stop() // the lame duck need not run out
			<-runErr
		})
	}
}

// TestFastDrainQuietClosedByPolicy: a quiet keep-alive connection handed
// to net/http at the drain is still the Drainer's to close: its idle policy
// sees it quiet and closes it at the keep-alive timeout, and the drain
// ends then, not at its deadline.
func TestFastDrainQuietClosedByPolicy(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	const keepAlive = 300 * time.Millisecond
	opts := drain.Options{Delay: -1, KeepAlive: keepAlive, Deadline: 10 * time.Second}
	addr, _, d, runErr := drainFrontWith(t, up, opts, FastConfig{KeepAlive: keepAlive, ReadHeaderTimeout: 5 * time.Second}, 5*time.Second)
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res := readResponse(t, c, "GET")
	io.ReadAll(res.Body)
	start := time.Now()
	d.Stop()
	if n, err := c.r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("quiet connection: read %d, %v; want EOF (closed by the idle policy)", n, err)
	}
	if err := <-runErr; err != nil || time.Since(start) > 3*time.Second {
		t.Errorf("Run: %v after %v; want nil soon after the %v keep-alive", err, time.Since(start), keepAlive)
	}
}

// TestFastDrainBusyConnection: a request in flight on the fast path when
// the drain begins is answered with "Connection: close", and the drain
// (Drainer.Hold) does not end before it is.
func TestFastDrainBusyConnection(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "late")
	}))
	addr, _, d, runErr := drainFront(t, up, drain.Options{Delay: -1, Deadline: 10 * time.Second})
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-arrived
	d.Stop()
	<-d.Draining()
	// Nothing is expected to happen here: the closing phase polls every
	// 5 ms, so this is ample time for a drain that did not wait to end.
	select {
	case err := <-runErr:
		t.Fatalf("Run returned (%v) with a request in flight on the fast path", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	res := readResponse(t, c, "GET")
	b, err := io.ReadAll(res.Body)
	if string(b) != "late" || err != nil || !res.Close {
		t.Fatalf("in-flight request: %q %v, close %v; want \"late\" with Connection: close", b, err, res.Close)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestFastDeadlineCancels: a request still running at the drain's
// deadline is cancelled (the application's connection is closed) and the
// drain ends.
func TestFastDeadlineCancels(t *testing.T) {
	gone := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(gone)
	}))
	addr, _, d, runErr := drainFront(t, up, drain.Options{Delay: -1, Deadline: 200 * time.Millisecond, ForceAfter: 5 * time.Second})
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	d.Stop()
	<-gone
	if err := <-runErr; !errors.Is(err, drain.ErrDeadline) {
		t.Fatalf("Run: %v, want ErrDeadline", err)
	}
}
