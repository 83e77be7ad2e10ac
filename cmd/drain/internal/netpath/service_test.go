package netpath

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// newService creates a Service at DefaultVIP in ns, closed at the end of
// the test.
func newService(t *testing.T, ns *Namespace) *Service {
	t.Helper()
	svc, err := NewService(ns, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	return svc
}

// twoServers starts servers "a" (replica 0) and "b" (replica 1) inside ns.
func twoServers(t *testing.T, ns *Namespace) (a, b endpoint.Endpoint) {
	t.Helper()
	for i, name := range []string{"a", "b"} {
		ln, err := ns.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := newServer(t, name, ln)
		ep := endpoint.Endpoint{Addr: s.addr(), Replica: int32(i)}
		if i == 0 {
			a = ep
		} else {
			b = ep
		}
	}
	return a, b
}

// dialVIP dials the Service from inside the namespace.
func dialVIP(t *testing.T, svc *Service) (net.Conn, *bufio.Reader, int32) {
	t.Helper()
	ep, ok := svc.Pick()
	if !ok {
		t.Fatal("Pick: no endpoint")
	}
	if ep.Addr != DefaultVIP || ep.Replica != -1 {
		t.Fatalf("Pick = %+v, want the VIP and replica -1", ep)
	}
	c, replica, err := svc.Dial(testCtx(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c), replica
}

// TestServiceConntrackPinning: an established connection keeps reaching
// endpoint a after a is removed from the Service, while new connections go
// to b; Dial reports the replica the kernel chose.
func TestServiceConntrackPinning(t *testing.T) {
	ns := newNamespace(t)
	svc := newService(t, ns)
	a, b := twoServers(t, ns)

	if err := svc.SetEndpoints([]endpoint.Endpoint{a}); err != nil {
		t.Fatal(err)
	}
	old, oldR, replica := dialVIP(t, svc)
	if got := ask(t, old, oldR); got != "a" || replica != 0 {
		t.Fatalf("first connection reached %q (replica %d), want a (0)", got, replica)
	}

	if err := svc.SetEndpoints([]endpoint.Endpoint{b}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c, r, replica := dialVIP(t, svc)
		if got := ask(t, c, r); got != "b" || replica != 1 {
			t.Errorf("new connection reached %q (replica %d), want b (1)", got, replica)
		}
		c.Close()
	}
	if got := ask(t, old, oldR); got != "a" {
		t.Errorf("established connection moved to %q, want a (conntrack)", got)
	}
	if dst, err := svc.Destination(old); err != nil || dst.String() != a.Addr {
		t.Errorf("Destination(old) = %v, %v; want %s", dst, err, a.Addr)
	}
}

// TestServiceRandom: with two endpoints both get new connections, and Dial
// names the one that answered.
func TestServiceRandom(t *testing.T) {
	ns := newNamespace(t)
	svc := newService(t, ns)
	a, b := twoServers(t, ns)
	if err := svc.SetEndpoints([]endpoint.Endpoint{a, b}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 40 { // all on one side: probability 2^-39
		c, r, replica := dialVIP(t, svc)
		got := ask(t, c, r)
		seen[got]++
		if want := map[string]int32{"a": 0, "b": 1}[got]; replica != want {
			t.Errorf("%s answered, Dial said replica %d", got, replica)
		}
		c.Close()
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("spread %v, want both endpoints", seen)
	}
}

// TestServiceNoEndpoints: with no endpoints Pick is empty and a connection
// to the VIP is refused by the kernel (kube-proxy's reject), even though a
// server listens on the VIP itself (which a missing rule would let through).
func TestServiceNoEndpoints(t *testing.T) {
	ns := newNamespace(t)
	svc := newService(t, ns)
	a, _ := twoServers(t, ns)
	ln, err := ns.Listen("tcp", DefaultVIP)
	if err != nil {
		t.Fatal(err)
	}
	newServer(t, "vip", ln)
	if _, ok := svc.Pick(); ok {
		t.Error("Pick ok with no endpoints")
	}
	if err := svc.SetEndpoints([]endpoint.Endpoint{a}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetEndpoints(nil); err != nil {
		t.Fatal(err)
	}
	c, err := ns.DialContext(testCtx(t), "tcp", DefaultVIP)
	if err == nil {
		c.Close()
		t.Fatal("dial to a Service without endpoints succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want ECONNREFUSED", err)
	}
}

// TestServiceClose: the table is gone after Service.Close, the namespace
// after Namespace.Close.
func TestServiceClose(t *testing.T) {
	needRoot(t)
	ns, err := NewNamespace()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	svc, err := NewService(ns, "10.96.0.20:8080")
	if err != nil {
		t.Fatal(err)
	}
	tables := func() string {
		out, err := exec.Command("ip", "netns", "exec", ns.Name(), "nft", "list", "tables").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list tables: %v: %s", err, out)
		}
		return string(out)
	}
	if got := tables(); !strings.Contains(got, svc.table) {
		t.Fatalf("tables %q, want %s", got, svc.table)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := tables(); got != "" {
		t.Errorf("tables after Close: %q", got)
	}
	if err := svc.SetEndpoints(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetEndpoints after Close: %v", err)
	}
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("ip", "netns", "exec", ns.Name(), "true").Run(); err == nil {
		t.Errorf("namespace %s still there after Close", ns.Name())
	}
}

func TestServiceBadInput(t *testing.T) {
	ns := newNamespace(t)
	if _, err := NewService(ns, "::1:80"); err == nil {
		t.Error("NewService accepted an IPv6 VIP")
	}
	svc := newService(t, ns)
	if err := svc.SetEndpoints([]endpoint.Endpoint{{Addr: "localhost:80"}}); err == nil {
		t.Error("SetEndpoints accepted a host name")
	}
}

// TestServiceBlackhole: an endpoint whose server is gone refuses new
// connections through the VIP; once blackholed they go unanswered until
// the dial's own deadline, also when the SYN is retransmitted.
func TestServiceBlackhole(t *testing.T) {
	ns := newNamespace(t)
	svc := newService(t, ns)
	ln, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := endpoint.Endpoint{Addr: ln.Addr().String(), Replica: 0}
	ln.Close() // the replica exited
	if err := svc.SetEndpoints([]endpoint.Endpoint{a}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Dial(testCtx(t), endpoint.Endpoint{Addr: DefaultVIP, Replica: -1}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to an exited endpoint: %v, want ECONNREFUSED", err)
	}
	if err := svc.Blackhole(a.Addr); err != nil {
		t.Fatal(err)
	}
	if err := svc.Blackhole("::1"); err == nil {
		t.Error("Blackhole of a bad address succeeded")
	}
	assertUnanswered(t, func(ctx context.Context) error {
		c, _, err := svc.Dial(ctx, endpoint.Endpoint{Addr: DefaultVIP, Replica: -1})
		if err == nil {
			c.Close()
		}
		return err
	})
}

// assertUnanswered checks that dial, given 1.5 s (past the first SYN
// retransmission at 1 s), fails with a timeout after the full 1.5 s.
func assertUnanswered(t *testing.T, dial func(ctx context.Context) error) {
	t.Helper()
	const timeout = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(testCtx(t), timeout)
	defer cancel()
	begin := time.Now()
	err := dial(ctx)
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("dial to a blackholed endpoint: %v, want a timeout", err)
	} else if d := time.Since(begin); d < timeout-10*time.Millisecond {
		t.Errorf("dial timed out after %v, want the full %v", d, timeout)
	}
}
