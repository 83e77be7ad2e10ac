package drain

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out in-memory connections, so a whole drain can run in
// a synctest bubble, in virtual time.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (l *pipeListener) dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// TestPhaseTimeline checks the timeline of the defaults in virtual time: the
// lame duck lasts exactly Delay, a quiet keep-alive connection closes exactly
// KeepAlive after its last response, and Run returns then.
func TestPhaseTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Delay: 5 * time.Second, KeepAlive: 8 * time.Second, Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()

		c, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		c.Write([]byte(get))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.Header.Get("Keep-Alive") != "timeout=8" {
			t.Fatalf("response %v, %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		idleFrom := time.Now()
		time.Sleep(time.Second)
		start := time.Now()
		d.Stop()
		synctest.Wait()
		if got := d.Phase(); got != PhaseLameDuck {
			t.Fatalf("phase %v right after Stop", got)
		}
		time.Sleep(5*time.Second - time.Nanosecond)
		synctest.Wait()
		if got := d.Phase(); got != PhaseLameDuck {
			t.Fatalf("phase %v before the delay ended", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := d.Phase(); got != PhaseClosing {
			t.Fatalf("phase %v when the delay ended", got)
		}
		if _, err := ln.dial(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("dial after the delay: %v", err)
		}
		// The quiet connection closes KeepAlive after its last response,
		// within one poll interval.
		_, err = br.ReadByte()
		closedAt := time.Since(idleFrom)
		if err == nil || closedAt < 8*time.Second || closedAt > 8*time.Second+2*pollInterval {
			t.Errorf("idle connection closed after %v (err %v), want 8s", closedAt, err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run = %v", err)
		}
		if el := time.Since(start); el > 7*time.Second+2*pollInterval {
			t.Errorf("drain took %v", el)
		}
	})
}

// TestDeadlineTimeline: a handler that ignores its context keeps the drain
// until Deadline (contexts cancelled) + ForceAfter (connection closed).
func TestDeadlineTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Deadline: 20 * time.Second, ForceAfter: 5 * time.Second, Logger: quietLog, Signals: []os.Signal{}})
		release := make(chan struct{})
		cancelledAt := make(chan time.Duration, 1)
		start := time.Now()
		d.Add(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			cancelledAt <- time.Since(start)
			<-release
		})}, ln)
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		c, _ := ln.dial()
		defer c.Close()
		go c.Write([]byte(get))
		synctest.Wait()
		d.Stop()
		err := <-errc
		close(release)
		if !errors.Is(err, ErrDeadline) || !errors.Is(err, ErrForced) {
			t.Errorf("Run = %v, want ErrDeadline and ErrForced", err)
		}
		if at := <-cancelledAt; at != 20*time.Second {
			t.Errorf("handler context cancelled after %v, want 20s", at)
		}
		if el := time.Since(start); el < 25*time.Second || el > 25*time.Second+2*pollInterval {
			t.Errorf("forced after %v, want 25s", el)
		}
	})
}

// TestQuietEndsDelayEarly: with Quiet set, the lame duck ends once no new
// connection has arrived for Quiet, and not while they keep arriving.
func TestQuietEndsDelayEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Delay: 10 * time.Second, Quiet: time.Second, Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		start := time.Now()
		d.Stop()
		// New connections every 500 ms for 3 s keep the delay going.
		for range 6 {
			time.Sleep(500 * time.Millisecond)
			c, err := ln.dial()
			if err != nil {
				t.Fatalf("dial during the lame duck: %v", err)
			}
			c.Close()
		}
		synctest.Wait()
		if got := d.Phase(); got != PhaseLameDuck {
			t.Fatalf("phase %v while connections still arrive", got)
		}
		lastConn := time.Now()
		if err := <-errc; err != nil {
			t.Errorf("Run = %v", err)
		}
		quietFor := time.Since(lastConn)
		if quietFor < time.Second || quietFor > time.Second+time.Second/8+pollInterval {
			t.Errorf("delay ended %v after the last connection, want Quiet (1s)", quietFor)
		}
		if el := time.Since(start); el >= 10*time.Second {
			t.Errorf("delay not ended early: %v", el)
		}
	})
}

// negativeKeepAliveConn runs a Drainer with KeepAlive -1 and a 20 s
// deadline (inside a synctest bubble) and returns a connection that has had
// one request answered, its reader, Run's result and that response.
func negativeKeepAliveConn(t *testing.T) (*Drainer, net.Conn, *bufio.Reader, <-chan error, *http.Response) {
	t.Helper()
	ln := newPipeListener()
	d := New(Options{KeepAlive: -1, Deadline: 20 * time.Second, Logger: quietLog, Signals: []os.Signal{}})
	d.Add(&http.Server{Handler: hello}, ln)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	c, err := ln.dial()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	c.Write([]byte(get))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return d, c, br, errc, resp
}

// TestNegativeKeepAliveBehavesAsOneMore: Options.KeepAlive < 0 means no
// hint and no idle timeout, and IdleKeepAlive then behaves as IdleOneMore:
// an idle connection is not closed when the listeners close but waits for
// one more request (answered with "Connection: close") until the deadline.
func TestNegativeKeepAliveBehavesAsOneMore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, c, br, errc, resp := negativeKeepAliveConn(t)
		defer c.Close()
		var err error
		if h := resp.Header.Get("Keep-Alive"); h != "" {
			t.Errorf("Keep-Alive hint %q with a negative KeepAlive", h)
		}
		d.Stop()
		time.Sleep(19 * time.Second) // listeners closed at once (no Delay); idle all along
		synctest.Wait()
		c.Write([]byte(get))
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("one more request 19s into the drain: %v (idle connection closed early)", err)
		}
		io.Copy(io.Discard, resp.Body)
		if !resp.Close {
			t.Error("no Connection: close on the one more response")
		}
		if err := <-errc; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestOneMoreClosesQuietConnectionAtDeadline: with IdleOneMore (here through
// a negative KeepAlive) a connection that never sends again is closed at the
// deadline, not before, and Run reports the deadline.
func TestOneMoreClosesQuietConnectionAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, c, br, errc, _ := negativeKeepAliveConn(t)
		defer c.Close()
		var err error
		start := time.Now()
		d.Stop()
		_, err = br.ReadByte()
		if el := time.Since(start); err == nil || el < 20*time.Second || el > 20*time.Second+2*pollInterval {
			t.Errorf("quiet connection closed after %v (err %v), want at the 20s deadline", el, err)
		}
		if err := <-errc; !errors.Is(err, ErrDeadline) {
			t.Errorf("Run = %v, want ErrDeadline", err)
		}
	})
}

// TestSlowlorisCostsNoPolling: a connection holding part of a request is
// never closed by the idle policy, and waiting for it costs the closing
// phase nothing per unit of time: it looks at connections on events and
// at the moments they may become closable, not on a fixed tick (the old
// 5 ms poll made 2,000 slowloris connections cost half a core).
func TestSlowlorisCostsNoPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Deadline: 20 * time.Second, ForceAfter: 5 * time.Second, Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		c, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")) // and nothing more
		synctest.Wait()
		d.Stop()
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if n := d.sweeps.Load(); n > 10 {
			t.Errorf("closing loop ran %d times in 19 s with one slowloris connection, want a few (events only)", n)
		}
		if st := d.Stats(); st.Conns != 1 || st.ClosedIdle != 0 {
			t.Errorf("half-received connection: conns %d, closed idle %d", st.Conns, st.ClosedIdle)
		}
		if err := <-errc; !errors.Is(err, ErrForced) {
			t.Errorf("Run = %v, want ErrForced (the slowloris held until the force)", err)
		}
	})
}

// TestSweepCostWithStaggeredIdleCloses: connections used at different moments
// before the drain each become closable at their own moment, and each close
// pokes the closing loop. The loop must not sweep every connection once per
// close (quadratic: 19,000 such connections cost 2 CPU-s in a 5 s drain):
// between two sweeps it waits sweepGapPerConn per pending connection, so the
// connections it looks at over the drain stay within the drain's length
// divided by that gap, plus one sweep's worth.
func TestSweepCostWithStaggeredIdleCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 1000
		const stagger = 100 * time.Microsecond
		ln := newPipeListener()
		d := New(Options{KeepAlive: time.Second, Deadline: 20 * time.Second, Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range n {
			c, err := ln.dial()
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			c.Write([]byte(get))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			go io.Copy(io.Discard, c) // sees the close
			time.Sleep(stagger)       // the next connection goes idle later
		}
		synctest.Wait()
		start := time.Now()
		d.Stop()
		if err := <-errc; err != nil {
			t.Fatalf("Run = %v", err)
		}
		took := time.Since(start)
		if st := d.Stats(); st.ClosedIdle != n {
			t.Errorf("closed idle %d, want %d", st.ClosedIdle, n)
		}
		bound := int64(took/sweepGapPerConn) + n
		if swept := d.swept.Load(); swept > bound {
			t.Errorf("the closing loop looked at %d connections in a %v drain (%d sweeps), want at most %d", swept, took, d.sweeps.Load(), bound)
		}
		t.Logf("%d sweeps looked at %d connections in %v", d.sweeps.Load(), d.swept.Load(), took)
	})
}
