// Package examplestest checks an example the same way for every framework:
// on a real socket it serves, then drains on Stop or on the cancellation of
// its context, and loses nothing.
package examplestest

import (
	"bufio"
	"context"
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

// RunFunc is what every example exports to its test and its main: serve on
// ln with d until the drain ends, and return Run's error.
type RunFunc func(ctx context.Context, ln net.Listener, d *drain.Drainer) error

// Trigger says how the test begins the drain.
type Trigger int

const (
	// Stop calls Drainer.Stop (what SIGTERM does).
	Stop Trigger = iota
	// Cancel cancels the context given to run (what a lifecycle library
	// such as oklog/run or errgroup does when another actor ends).
	Cancel
)

// LameDuck is the test's propagation delay: long enough that the requests
// the test sends after the drain began land inside it on a busy machine.
const LameDuck = time.Second

// Result is what Check saw, for tests that look further (metrics).
type Result struct {
	Base    string // http://host:port of the example
	Drainer *drain.Drainer
}

// Check runs run on a loopback listener and asserts, in order:
//   - 20 GET / on keep-alive connections answer 200;
//   - 3 GET /slow (the handler flushes "start\n", works 100 ms, writes
//     "done\n") are in flight when the drain begins;
//   - after the drain began, GET /readyz answers 503 and GET / is still
//     served (the lame duck), with Connection: close;
//   - the in-flight requests complete with their whole body;
//   - run returns nil, the Drainer ends in phase "done" with no connection
//     closed by force.
//
// during, if not nil, runs right after the drain began (metrics checks).
// It reports the requests sent and lost (always 0 on success).
func Check(t *testing.T, run RunFunc, trigger Trigger, during func(r Result)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := drain.New(drain.Options{
		Delay:   LameDuck,
		Signals: []os.Signal{}, // the test triggers the drain itself
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, d) }()

	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	sent, lost := 0, 0
	get := func(path string, want int) *http.Response {
		t.Helper()
		sent++
		resp, err := client.Get(base + path)
		if err != nil {
			lost++
			t.Errorf("GET %s: %v", path, err)
			return nil
		}
		if resp.StatusCode != want {
			if resp.StatusCode >= 500 && path != "/readyz" {
				lost++
			}
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
		return resp
	}
	body := func(resp *http.Response) string {
		if resp == nil {
			return ""
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			lost++
			t.Errorf("reading a body: %v", err)
		}
		return string(b)
	}

	for range 20 {
		if b := body(get("/", http.StatusOK)); b != "hello\n" {
			t.Errorf("GET /: body %q, want %q", b, "hello\n")
		}
	}
	if b := body(get("/readyz", http.StatusOK)); b == "" {
		t.Log("GET /readyz: empty body")
	}

	// In flight across the start of the drain: the response's headers and
	// first line have arrived, so the handler is running.
	var slow []*bufio.Reader
	var slowResp []*http.Response
	for range 3 {
		resp := get("/slow", http.StatusOK)
		if resp == nil {
			continue
		}
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); line != "start\n" {
			t.Fatalf("GET /slow: first line %q, %v", line, err)
		}
		slow, slowResp = append(slow, br), append(slowResp, resp)
	}

	switch trigger {
	case Stop:
		d.Stop()
	case Cancel:
		cancel()
	}
	select {
	case <-d.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not begin within 5 s of the trigger")
	}
	body(get("/readyz", http.StatusServiceUnavailable))
	resp := get("/", http.StatusOK)
	if resp != nil && !resp.Close {
		t.Error("GET / in the lame duck: no Connection: close")
	}
	body(resp)
	if during != nil {
		during(Result{Base: base, Drainer: d})
	}

	for i, br := range slow {
		rest, err := io.ReadAll(br)
		slowResp[i].Body.Close()
		if err != nil || string(rest) != "done\n" {
			lost++
			t.Errorf("in-flight GET /slow: rest %q, %v; want %q", rest, err, "done\n")
		}
	}

	// A client that has nothing more to send closes its idle keep-alive
	// connections (the drain would otherwise wait up to the keep-alive
	// timeout for one more request on each, as Options.Idle says).
	client.CloseIdleConnections()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	case <-time.After(LameDuck + 10*time.Second):
		t.Fatal("run did not return within 10 s after the lame duck")
	}
	st := d.Stats()
	if st.Phase != "done" || st.ClosedForced != 0 {
		t.Errorf("after run: phase %q, %d connections closed by force; want done, 0", st.Phase, st.ClosedForced)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after run returned")
	}
	t.Logf("sent %d, lost %d", sent, lost)
}

// Metric returns the value of the sample line that starts with name (for
// example `drain_phase{phase="lame-duck"}`) in a Prometheus text
// exposition, and whether it was there.
func Metric(exposition, name string) (string, bool) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}
