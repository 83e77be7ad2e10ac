package netpath

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// startRelay runs a Relay on loopback in front of upstream; it is closed at
// the end of the test.
// dialRelay connects a client through r and returns both ends: the client's
// and the server's (from cs), each bounded by deadline from now (a test
// that hangs fails instead) and closed at the test's end.
func dialRelay(t *testing.T, r *Relay, cs <-chan *net.TCPConn, deadline time.Duration) (c, srv *net.TCPConn) {
	t.Helper()
	nc, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c = nc.(*net.TCPConn)
	t.Cleanup(func() { c.Close() })
	srv = <-cs
	t.Cleanup(func() { srv.Close() })
	end := time.Now().Add(deadline)
	c.SetDeadline(end)
	srv.SetDeadline(end)
	return c, srv
}

func startRelay(t *testing.T, upstream string, lat Latency) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRelay(ln, upstream, nil, lat)
	errc := make(chan error, 1)
	go func() { errc <- r.Serve() }()
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

// acceptOne listens on loopback and hands each accepted connection to the
// test.
func acceptOne(t *testing.T) (net.Listener, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := make(chan *net.TCPConn, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(cs)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cs <- c.(*net.TCPConn)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for c := range cs {
			c.Close()
		}
	})
	return ln, cs
}

// roundTrips returns the times of n one-byte round trips to an echo server
// at addr, on one connection, fastest first.
func roundTrips(t *testing.T, addr string, n int) []time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rtts := make([]time.Duration, n)
	b := []byte{'x'}
	for i := range rtts {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		rtts[i] = time.Since(start)
	}
	slices.Sort(rtts)
	return rtts
}

// echoServer echoes every connection on loopback until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cs []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			cs = append(cs, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range cs {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestRelayDelay: the relay adds Delay in each direction, once. The relay
// can only add time (each piece is written no sooner than Delay after it
// was read, and the client's write precedes the relay's read), so every
// round trip through it takes at least 2 Delay; and one that added the
// Delay twice per direction would take at least 4 Delay every time, so
// the fastest of n round trips (the one least slowed by a busy machine)
// must take less.
func TestRelayDelay(t *testing.T) {
	echo := echoServer(t)
	for _, d := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
		r := startRelay(t, echo, Latency{Delay: d})
		rtts := roundTrips(t, r.Addr().String(), 30)
		fastest, median := rtts[0], rtts[len(rtts)/2]
		t.Logf("Delay %v: round trips through the relay from %v (median %v)", d, fastest, median)
		if fastest < 2*d {
			t.Errorf("Delay %v: a round trip took %v, want >= 2 Delay (%v)", d, fastest, 2*d)
		}
		if fastest >= 4*d {
			t.Errorf("Delay %v: the fastest of %d round trips took %v, want < 4 Delay (%v): the delay is added once per direction", d, len(rtts), fastest, 4*d)
		}
	}
}

// TestRelayJitter: with jitter, bytes through a real relay arrive in
// order, none sooner than Delay-Jitter after it was sent (the relay only
// adds time), the fastest sooner than Delay+Jitter (the most the relay adds
// to any piece: TestLatencyNext; the fastest of n is the one a busy machine
// slowed least), and the delays vary.
func TestRelayJitter(t *testing.T) {
	ln, cs := acceptOne(t)
	lat := Latency{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	r := startRelay(t, ln.Addr().String(), lat)
	c, srv := dialRelay(t, r, cs, 10*time.Second)
	const n = 40
	sent := make([]time.Time, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			sent[i] = time.Now()
			c.Write([]byte{byte(i)})
			time.Sleep(time.Millisecond) // pacing the sender, not synchronization
		}
	}()
	arrived := make([]time.Time, 0, n)
	b := make([]byte, n)
	for len(arrived) < n {
		k, err := srv.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, v := range b[:k] {
			if int(v) != len(arrived) {
				t.Fatalf("byte %d arrived in position %d", v, len(arrived))
			}
			arrived = append(arrived, now)
		}
	}
	<-done
	lo, hi := lat.Delay-lat.Jitter, lat.Delay+lat.Jitter
	minD, maxD := time.Hour, time.Duration(0)
	for i := range n {
		d := arrived[i].Sub(sent[i])
		minD, maxD = min(minD, d), max(maxD, d)
		if d < lo {
			t.Errorf("byte %d delayed %v, want >= Delay-Jitter (%v)", i, d, lo)
		}
	}
	t.Logf("delays from %v to %v", minD, maxD)
	if minD >= hi {
		t.Errorf("the fastest of %d bytes was delayed %v, want < Delay+Jitter (%v)", n, minD, hi)
	}
	// Uniform in a 2 Jitter wide range, 40 draws all within Jitter/2 of
	// each other has a probability below 1e-10; a busy machine only
	// widens the spread.
	if maxD-minD < lat.Jitter/2 {
		t.Errorf("delays from %v to %v: no jitter", minD, maxD)
	}
}

// TestLatencyNext: each piece is delivered Delay ± Jitter after it was read
// (never before it was read), using the whole range, and never before the
// piece read ahead of it.
func TestLatencyNext(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, l := range []Latency{
		{},
		{Delay: 10 * time.Millisecond},
		{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond},
		{Delay: 2 * time.Millisecond, Jitter: 5 * time.Millisecond}, // clipped at 0
		{Delay: -time.Second, Jitter: -time.Second},                 // none
	} {
		lo := now.Add(max(l.Delay-max(l.Jitter, 0), 0))
		hi := now.Add(max(l.Delay, 0) + max(l.Jitter, 0))
		first, last := hi, lo
		for range 10000 {
			got := l.next(now, time.Time{})
			if got.Before(lo) || got.After(hi) {
				t.Fatalf("%+v: delivered %v after the read, want within [%v, %v]", l, got.Sub(now), lo.Sub(now), hi.Sub(now))
			}
			if got.Before(first) {
				first = got
			}
			if got.After(last) {
				last = got
			}
		}
		// 10000 uniform draws: each end of the range is reached within a
		// tenth of the jitter (the chance of missing one is about e^-500).
		if j := max(l.Jitter, 0); first.Sub(lo) > j/10 || hi.Sub(last) > j/10 {
			t.Errorf("%+v: delivered from %v to %v after the read, want the range [%v, %v] used", l, first.Sub(now), last.Sub(now), lo.Sub(now), hi.Sub(now))
		}
		prev := hi.Add(time.Millisecond)
		if got := l.next(now, prev); !got.Equal(prev) {
			t.Errorf("%+v: delivered %v after the read, before the piece ahead of it (%v)", l, got.Sub(now), prev.Sub(now))
		}
	}
}

// TestRelayHalfClose: the client's FIN reaches the server as EOF Delay
// later, and the server can still answer on the half-closed connection.
func TestRelayHalfClose(t *testing.T) {
	const d = 20 * time.Millisecond
	ln, cs := acceptOne(t)
	r := startRelay(t, ln.Addr().String(), Latency{Delay: d})
	c, srv := dialRelay(t, r, cs, 5*time.Second)

	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	fin := time.Now()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(srv) // until EOF
	eof := time.Since(fin)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	if eof < d {
		t.Errorf("EOF reached the server %v after the FIN, want >= %v", eof, d)
	}
	if _, err := srv.Write([]byte("response")); err != nil {
		t.Fatalf("server write after the client's FIN: %v", err)
	}
	srv.CloseWrite()
	back, err := io.ReadAll(c)
	if err != nil || string(back) != "response" {
		t.Errorf("client read %q, %v after its own CloseWrite", back, err)
	}
}

// TestRelayReset: an RST from the server reaches the client as an RST
// (ECONNRESET), not EOF, Delay later; and the other way round.
func TestRelayReset(t *testing.T) {
	const d = 20 * time.Millisecond
	ln, cs := acceptOne(t)
	r := startRelay(t, ln.Addr().String(), Latency{Delay: d})

	t.Run("server", func(t *testing.T) {
		c, srv := dialRelay(t, r, cs, 5*time.Second)
		srv.SetLinger(0)
		sent := time.Now()
		srv.Close()
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read: %v, want ECONNRESET", err)
		}
		if e := time.Since(sent); e < d {
			t.Errorf("RST arrived %v after it was sent, want >= %v", e, d)
		}
	})
	t.Run("client", func(t *testing.T) {
		c, srv := dialRelay(t, r, cs, 5*time.Second)
		// Wait until the relay has connected upstream: data goes through.
		c.Write([]byte("x"))
		if _, err := io.ReadFull(srv, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		c.SetLinger(0)
		c.Close()
		_, err := srv.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("server read: %v, want ECONNRESET", err)
		}
	})
}

// TestRelayRefused: an upstream that refuses the connection resets the
// client's connection.
func TestRelayRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	r := startRelay(t, dead, Latency{Delay: time.Millisecond})
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want ECONNRESET", err)
	}
}

// TestRelayClose: Close ends open connections and returns with every
// goroutine of the Relay (goleak checks at the end of the package).
func TestRelayClose(t *testing.T) {
	ln, cs := acceptOne(t)
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRelay(l2, ln.Addr().String(), nil, Latency{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() { errc <- r.Serve() }()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("held for an hour"))
	r.Close()
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after Close")
	}
	select {
	case srv := <-cs:
		t.Errorf("the upstream was dialed before Delay: %v", srv.RemoteAddr())
	default:
	}
}

// TestKernelPath: relays inside the namespace in front of two servers,
// the Service DNATing to the relays: a connection to the VIP reaches a
// server through a relay (the round trip costs 2 Delay) and Dial names the
// replica.
func TestKernelPath(t *testing.T) {
	ns := newNamespace(t)
	svc := newService(t, ns)
	a, b := twoServers(t, ns)
	const d = 10 * time.Millisecond
	var eps []endpoint.Endpoint
	for _, ep := range []endpoint.Endpoint{a, b} {
		ln, err := ns.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := NewRelay(ln, ep.Addr, ns.DialContext, Latency{Delay: d})
		errc := make(chan error, 1)
		go func() { errc <- r.Serve() }()
		t.Cleanup(func() {
			r.Close()
			if err := <-errc; err != nil {
				t.Error(err)
			}
		})
		eps = append(eps, endpoint.Endpoint{Addr: r.Addr().String(), Replica: ep.Replica})
	}
	if err := svc.SetEndpoints(eps); err != nil {
		t.Fatal(err)
	}
	names := map[int32]string{0: "a", 1: "b"}
	for range 6 {
		c, r, replica := dialVIP(t, svc)
		start := time.Now()
		got := ask(t, c, r)
		if rtt := time.Since(start); rtt < 2*d {
			t.Errorf("round trip %v through a relay, want >= %v", rtt, 2*d)
		}
		if names[replica] != got {
			t.Errorf("Dial said replica %d, %q answered", replica, got)
		}
		c.Close()
	}
}
