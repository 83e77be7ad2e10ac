package drain

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2Rollout is one measured h2c drain in Kubernetes mode: an "old" server
// under a Drainer with a lame duck, a "new" plain server, and clients whose
// new connections reach the old server until switchAfter past the drain's
// start (kube-proxy's propagation), the new one after that. The clients are
// net/http's HTTP/2 Transport (the bundled x/net/http2 client) sending POST
// bodies it cannot re-send (no GetBody), open loop at rate.
type h2Rollout struct {
	rate        int           // requests per second, all clients together
	clients     int           // long-lived Transports (one connection each, normally)
	before      time.Duration // load before the drain begins
	delay       time.Duration // the old server's lame duck
	switchAfter time.Duration // new connections still reach the old server this long
	after       time.Duration // load after the old server's listeners closed
	latency     time.Duration // server-to-client delay (the way GOAWAY travels)
}

// lateConn delivers what the server sends latency after it arrived: the
// window in which a client still opens streams on a connection the server
// has already sent GOAWAY on.
type lateConn struct {
	net.Conn
	latency time.Duration
	chunks  chan lateChunk
	done    chan struct{}
	once    sync.Once
	pending []byte
	err     error
}

type lateChunk struct {
	at   time.Time
	data []byte
	err  error
}

func newLateConn(c net.Conn, latency time.Duration) *lateConn {
	l := &lateConn{Conn: c, latency: latency, chunks: make(chan lateChunk, 4096), done: make(chan struct{})}
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := c.Read(buf)
			select {
			case l.chunks <- lateChunk{time.Now(), buf[:n], err}:
			case <-l.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return l
}

func (l *lateConn) Read(p []byte) (int, error) {
	if len(l.pending) == 0 && l.err == nil {
		select {
		case ch := <-l.chunks:
			time.Sleep(time.Until(ch.at.Add(l.latency)))
			l.pending, l.err = ch.data, ch.err
		case <-l.done:
			return 0, net.ErrClosed
		}
	}
	if len(l.pending) > 0 {
		n := copy(p, l.pending)
		l.pending = l.pending[n:]
		return n, nil
	}
	return 0, l.err
}

func (l *lateConn) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Conn.Close()
}

type h2Result struct {
	sent, lost int
	unsent     int // lost in net/http's Transport before reaching the wire (golang/go#62450)
	errs       map[string]int
	oldConns   uint64 // connections the old server accepted
	runErr     error
}

func (r h2Result) String() string {
	var classes []string
	for k, v := range r.errs {
		classes = append(classes, fmt.Sprintf("%d x %s", v, k))
	}
	sort.Strings(classes)
	return fmt.Sprintf("lost %d of %d (%d never left the client; old server accepted %d connections; Run: %v) %s", r.lost, r.sent, r.unsent, r.oldConns, r.runErr, strings.Join(classes, "; "))
}

func h2cProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

func (o h2Rollout) run(t *testing.T) h2Result {
	body := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}
	oldLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	newLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	both := new(http.Protocols)
	both.SetHTTP1(true)
	both.SetUnencryptedHTTP2(true)
	d := New(Options{Delay: o.delay, Logger: quietLog, Signals: []os.Signal{}})
	d.Add(&http.Server{Handler: http.HandlerFunc(body), Protocols: both}, oldLn)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(context.Background()) }()
	newSrv := &http.Server{Handler: http.HandlerFunc(body), Protocols: both}
	go newSrv.Serve(newLn)
	defer newSrv.Close()

	var drainStart atomic.Int64 // unix nanos; 0 before the drain
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		addr := oldLn.Addr().String()
		if s := drainStart.Load(); s != 0 && time.Since(time.Unix(0, s)) >= o.switchAfter {
			addr = newLn.Addr().String()
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil || o.latency == 0 {
			return c, err
		}
		return newLateConn(c, o.latency), nil
	}
	transports := make([]*http.Transport, o.clients)
	for i := range transports {
		transports[i] = &http.Transport{Protocols: h2cProtocols(), DialContext: dial}
		defer transports[i].CloseIdleConnections()
	}

	var res h2Result
	res.errs = map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	send := func(tr *http.Transport) {
		defer wg.Done()
		// An io.Reader net/http cannot rewind: no GetBody, no retry once
		// the body may have been sent.
		req, _ := http.NewRequest("POST", "http://svc/", io.NopCloser(strings.NewReader("payload")))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		mu.Lock()
		res.sent++
		if err != nil {
			res.lost++
			if strings.Contains(err.Error(), "cannot rewind body after connection loss") {
				// The request never left the client: net/http's
				// Transport picked a connection that had just read a
				// GOAWAY, closed the body, then could not retry it
				// (golang/go#62450). Any GOAWAY triggers it, more often
				// when the client is slow (the race detector).
				res.unsent++
			}
			res.errs[err.Error()]++
		}
		mu.Unlock()
	}
	interval := time.Second / time.Duration(o.rate)
	total := o.before + o.delay + o.after
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// Open loop: every request due by now is sent, late ones at once.
	for i := 0; ; {
		now := <-tick.C
		el := min(now.Sub(start), total)
		if drainStart.Load() == 0 && el >= o.before {
			drainStart.Store(time.Now().UnixNano())
			d.Stop()
		}
		for due := int(el / interval); i < due; i++ {
			wg.Add(1)
			go send(transports[i%len(transports)])
		}
		if el == total {
			break
		}
	}
	wg.Wait()
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	select {
	case res.runErr = <-runErr:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	res.oldConns = d.Stats().Accepted
	return res
}

// TestHTTP2LameDuckAt1000PerSecond: h2c at 1000 POST/s over a few
// connections, 2 ms from server to client, new connections reaching the
// draining server for 300 ms:
// no stream is refused or cut. (Go's HTTP/2 server turns every
// "Connection: close" into an immediate GOAWAY; during the lame duck that
// GOAWAY'd every connection after one response, racing the streams the
// client had already started on it.)
func TestHTTP2LameDuckAt1000PerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s of load")
	}
	o := h2Rollout{rate: 1000, clients: 4, before: 300 * time.Millisecond, delay: time.Second, switchAfter: 300 * time.Millisecond, after: time.Second, latency: 2 * time.Millisecond}
	if d, err := time.ParseDuration(os.Getenv("DRAIN_H2_DELAY")); err == nil {
		o.delay = d // measurements: DRAIN_H2_DELAY=5s (Kubernetes' default lame duck)
	}
	if d, err := time.ParseDuration(os.Getenv("DRAIN_H2_LATENCY")); err == nil {
		o.latency = d
	}
	res := o.run(t)
	t.Log(res)
	if res.lost > res.unsent || res.runErr != nil {
		t.Errorf("%v", res)
	}
	if want := int((o.before + o.delay + o.after) / (time.Second / time.Duration(o.rate))); res.sent < want*9/10 {
		t.Errorf("only %d requests sent, want about %d", res.sent, want)
	}
}
