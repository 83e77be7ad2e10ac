package load

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// routingDialer stands in for a dialer that routes by itself (a kernel
// Service): the Target hands out a virtual address with Replica -1, and
// Dial connects to the real server and reports the replica it reached.
type routingDialer struct {
	vip, real string
	replica   int32

	mu    sync.Mutex
	calls map[string]int // by ep.Addr
	noDL  int            // calls whose ctx had no deadline (raw client only)
}

func (d *routingDialer) dial(ctx context.Context, ep endpoint.Endpoint) (net.Conn, int32, error) {
	d.mu.Lock()
	d.calls[ep.Addr]++
	if _, ok := ctx.Deadline(); !ok {
		d.noDL++
	}
	d.mu.Unlock()
	addr, replica := ep.Addr, ep.Replica
	if ep.Addr == d.vip {
		addr, replica = d.real, d.replica
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", addr)
	return c, replica, err
}

// TestConfigDial: with Config.Dial set, every connection of both clients
// (steady load and hard cases) is opened by it, and the Results carry the
// replica it reports rather than the Target's.
func TestConfigDial(t *testing.T) {
	var a arrivals
	srv := newHTTPServer(t, http.HandlerFunc(a.handler))
	addr := srv.Addr().String()
	for _, client := range []string{ClientRaw, ClientGo} {
		t.Run(client, func(t *testing.T) {
			d := &routingDialer{vip: "10.96.0.10:80", real: addr, replica: 7, calls: map[string]int{}}
			cfg := hardCfg
			cfg.Client, cfg.Dial = client, d.dial
			rs, _ := runWithStop(t, cfg, staticTarget{ep: endpoint.Endpoint{Addr: d.vip, Replica: -1}}, addr, func() {})
			k := byKind(rs)
			if len(k[Idle]) != 2 || len(k[HalfSent]) != 3 || len(k[SlowBody]) != 2 {
				t.Errorf("hard cases: %d idle, %d half-sent, %d slow-body; want 2, 3, 2", len(k[Idle]), len(k[HalfSent]), len(k[SlowBody]))
			}
			steady := 0
			for _, r := range rs {
				if r.Outcome != OK {
					t.Errorf("result %+v not OK", r)
				}
				want := int32(7) // through the VIP: the replica Dial reported
				if r.Kind != Steady || r.Seq >= 20 {
					want = 5 // hard cases and their setup GETs: dialed to replica 5's address
				} else {
					steady++
				}
				if r.Replica != want {
					t.Errorf("result %+v: replica %d, want %d", r, r.Replica, want)
				}
			}
			if steady != 20 {
				t.Errorf("%d steady results, want 20", steady)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.calls[d.vip] == 0 || d.calls[addr] != 2+3+2 {
				t.Errorf("Dial calls %v: want the VIP for the steady load and 7 to %s for the hard cases", d.calls, addr)
			}
			if client == ClientRaw && d.noDL != 0 {
				t.Errorf("%d dials without the request's deadline", d.noDL)
			}
		})
	}
}

// TestConfigDialError: a failing Dial is classified like a failing
// connect, and the Result keeps the Target's replica.
func TestConfigDialError(t *testing.T) {
	cfg := Config{Rate: 50, Duration: 100 * time.Millisecond, Conns: 1,
		Dial: func(context.Context, endpoint.Endpoint) (net.Conn, int32, error) {
			return nil, 9, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}}
	rs, err := Run(context.Background(), cfg, staticTarget{ep: endpoint.Endpoint{Addr: "10.96.0.10:80", Replica: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("%d results, want 5", len(rs))
	}
	for _, r := range rs {
		if r.Outcome != Refused || r.Replica != -1 || !r.NewConn {
			t.Errorf("result %+v: want refused, replica -1, new connection", r)
		}
	}
}
