package load

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"golang.org/x/sys/unix"
)

// lazyConn dials addr and returns a raw connection whose exchanges are lazy.
func lazyConn(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := newRawConn(nc, nc, 1, endpoint.Endpoint{Addr: addr})
	t.Cleanup(c.close)
	if c.fast == nil {
		t.Fatal("a plain TCP connection does not use the fast I/O")
	}
	c.fast.setLazy()
	return c
}

// rcvlowat reads the connection's SO_RCVLOWAT from the kernel.
func rcvlowat(t *testing.T, c *rawConn) int {
	t.Helper()
	var v int
	var gerr error
	err := c.fast.rc.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT)
	})
	if err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

// TestLazyExchangeStamp: a lazy exchange answers like an eager one, leaves
// SO_RCVLOWAT raised (arriving data does not wake the poller) and returns
// the kernel's receive time of the response, between the send and now,
// which doneAt then uses as the exchange's end.
func TestLazyExchangeStamp(t *testing.T) {
	srv := tinyServer(t)
	c := lazyConn(t, srv.addr())
	req := Request{}.bytes("GET", c.host)
	// The kernel turns receive timestamps on for the whole system a moment
	// after the first socket asks (a deferred static-key switch run by a
	// kernel worker, later on a busy machine), so the first responses may
	// come without one: doneAt then uses the read's time. Once one carries
	// a stamp, every later one must.
	for i := 0; ; i++ {
		if _, err := c.exchange(req, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if !c.fast.arrival().IsZero() {
			break
		}
		if i == 1000 {
			t.Fatal("no kernel receive time in 1000 lazy exchanges")
		}
	}
	for range 3 {
		sent := time.Now()
		h, err := c.exchange(req, sent.Add(time.Minute))
		now := time.Now()
		if err != nil || h.status != 200 || h.close {
			t.Fatalf("exchange: status %d close %v err %v", h.status, h.close, err)
		}
		at := c.fast.arrival()
		if at.IsZero() {
			t.Fatal("no kernel receive time for a response read by the lazy exchange")
		}
		if at.Before(sent.Round(0)) || at.After(now.Round(0)) {
			t.Fatalf("receive time %v is outside the exchange [%v, %v]", at, sent, now)
		}
		if done := c.doneAt(sent, now); !done.Equal(now.Add(-now.Round(0).Sub(at))) {
			t.Fatalf("doneAt = %v, want the receive time %v", done, at)
		}
		if got := rcvlowat(t, c); got != lazyLowat {
			t.Fatalf("SO_RCVLOWAT %d after a prompt response, want %d", got, lazyLowat)
		}
	}
}

// TestLazySlowResponse: responses that are not complete at the tick, whole
// or in pieces, still end when their last byte comes, not at the deadline:
// the read lowers SO_RCVLOWAT before it waits. The next exchange's send
// raises it again, and its response (which comes at once) is read.
func TestLazySlowResponse(t *testing.T) {
	const later = 100 * time.Millisecond // after the tick, whatever the load
	head := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
	cases := map[string][]string{
		"whole":            {"", okResponse},
		"head then body":   {head + "ab", "cde"},
		"in three pieces":  {"HTTP/1.1 200 OK\r\nContent-", "Length: 5\r\n\r\nab", "cde"},
		"prompt then slow": {head, "abcde"},
	}
	for name, pieces := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newRawServer(t, func(nc net.Conn) {
				br := bufio.NewReader(nc)
				for first := true; ; first = false {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if !first { // the second response comes at once
						nc.Write([]byte(okResponse))
						continue
					}
					for i, p := range pieces {
						if i > 0 {
							// The delay is the case under test, not a wait
							// for the client.
							time.Sleep(later)
						}
						if p != "" {
							nc.Write([]byte(p))
						}
					}
				}
			})
			c := lazyConn(t, srv.addr())
			req := Request{}.bytes("GET", c.host)
			const deadline = 10 * time.Second
			start := time.Now()
			h, err := c.exchange(req, start.Add(deadline))
			if err != nil || h.status != 200 {
				t.Fatalf("exchange: status %d err %v after %v", h.status, err, time.Since(start))
			}
			if took := time.Since(start); took >= deadline/2 {
				t.Fatalf("the response took %v: its last bytes did not wake the read", took)
			}
			if got := rcvlowat(t, c); got != 1 {
				t.Fatalf("SO_RCVLOWAT %d after a slow response, want 1", got)
			}
			// The next exchange raises it again before it sends. Its
			// send step alone, so that the check does not depend on the
			// response coming before the tick (not so on a loaded machine).
			c.fast.pending = req
			if err := c.fast.rc.Write(c.fast.lazy.sendFn); err != nil || c.fast.lazy.sendErr != nil || len(c.fast.pending) > 0 {
				t.Fatalf("lazy send: %v, %v, %d bytes left", err, c.fast.lazy.sendErr, len(c.fast.pending))
			}
			if got := rcvlowat(t, c); got != lazyLowat {
				t.Fatalf("SO_RCVLOWAT %d after the next request was sent, want %d", got, lazyLowat)
			}
			if h, err := c.read(); err != nil || h.status != 200 {
				t.Fatalf("second response: status %d err %v", h.status, err)
			}
		})
	}
}

// TestLazyCloseAndReset: a server that closes or resets instead of
// answering is EOF or a reset at once, not a timeout.
func TestLazyCloseAndReset(t *testing.T) {
	for _, reset := range []bool{false, true} {
		srv := newRawServer(t, func(nc net.Conn) {
			bufio.NewReader(nc).ReadString('\n')
			if reset {
				nc.(*net.TCPConn).SetLinger(0)
			}
			nc.Close()
		})
		c := lazyConn(t, srv.addr())
		const deadline = 10 * time.Second
		start := time.Now()
		_, err := c.exchange(Request{}.bytes("GET", c.host), start.Add(deadline))
		want := EOF
		if reset {
			want = Reset
		}
		if classify(err) != want {
			t.Fatalf("reset %v: err %v (%s), want %s", reset, err, classify(err), want)
		}
		if took := time.Since(start); took >= deadline/2 {
			t.Fatalf("reset %v: the close was seen after %v", reset, took)
		}
	}
}

// TestLazyRun: a run slow enough for lazy exchanges records every request
// as OK with its end after its send.
func TestLazyRun(t *testing.T) {
	srv := tinyServer(t)
	cfg := Config{Rate: 200, Duration: 250 * time.Millisecond, Conns: 4, RequestTimeout: 5 * time.Second}
	c, err := NewClient(cfg, srv.target())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 50 {
		t.Fatalf("%d results, want 50", len(rs))
	}
	for _, r := range rs {
		if r.Outcome != OK || r.Done < r.Sent {
			t.Fatalf("request %d: %s, sent %v done %v", r.Seq, r.Outcome, r.Sent, r.Done)
		}
	}
}

// TestLazyExchangesChosen: lazy exchanges only where each connection waits
// at least lazyGap between requests, and never for other clients.
func TestLazyExchangesChosen(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want bool
	}{
		{Config{Rate: 200, Conns: 4}, true},
		{Config{Rate: 5000, Conns: 32}, true},
		{Config{Rate: 8000, Conns: 32}, true},
		{Config{Rate: 8001, Conns: 32}, false},
		{Config{Rate: 40000, Conns: 32}, false},
		{Config{Rate: 200, Conns: 4, Client: ClientGo}, false},
		{Config{Rate: 200, Conns: 4, Protocol: ProtocolH2C}, false},
	} {
		if got := lazyExchanges(&tc.cfg); got != tc.want {
			t.Errorf("rate %v conns %d client %q protocol %q: lazy %v, want %v", tc.cfg.Rate, tc.cfg.Conns, tc.cfg.Client, tc.cfg.Protocol, got, tc.want)
		}
	}
}

// TestLazyResponseInTimeReadLate: the tick's timer may fire at or after the
// exchange's deadline, when the poller already counts the read as timed out,
// while the response came well before it. The first read after the tick
// goes around the poller, so such a response is an answer (its kernel
// timestamp before the deadline), not a timeout. The moment "the poller's
// deadline has passed" is made certain here by putting the socket's read
// deadline in the past.
func TestLazyResponseInTimeReadLate(t *testing.T) {
	srv := tinyServer(t)
	c := lazyConn(t, srv.addr())
	req := Request{}.bytes("GET", c.host)
	deadline := time.Now().Add(50 * time.Millisecond)
	c.fast.deadline = deadline
	if err := c.nc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	c.fast.lazy.tick = time.Hour // the read happens at the deadline
	c.fast.send(req)
	h, err := c.read()
	if err != nil || h.status != 200 {
		t.Fatalf("a response that came before the deadline: status %d err %v (%s)", h.status, err, classify(err))
	}
	if time.Now().Before(deadline) {
		t.Fatal("the tick did not last until the deadline: the case is not covered")
	}
}
