package netpath

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// DefaultVIP is the Service's virtual address when none is given: the
// cluster IP kube-dns gets in a default kubeadm cluster, port 80.
const DefaultVIP = "10.96.0.10:80"

// Service is a virtual IP:port inside a Namespace that the kernel
// load-balances over a set of endpoints the way kube-proxy's nftables mode
// does: the VIP is an address of the namespace's lo, and an nftables table
// sends each new connection to the VIP, in the nat output hook, through
//
//	numgen random mod N vmap { 0 : goto ep0, 1 : goto ep1, ... }
//
// to a chain per endpoint that DNATs it to that endpoint. Only a
// connection's first packet goes through the rules: conntrack keeps every
// established connection on the endpoint it was given, also after its
// endpoint has left the set. With no endpoints, new connections are
// rejected (ICMP port unreachable, so connect fails with ECONNREFUSED), like
// kube-proxy's no-endpoint-services rule. Blackhole makes an endpoint's
// address drop packets, like a pod whose network is gone.
//
// Service implements endpoint.Target for clients that dial with its Dial (from
// inside the namespace): Pick returns the VIP with Replica -1, since the
// kernel, not Pick, chooses the endpoint; Dial finds the replica the kernel
// chose in the connection's conntrack entry.
//
// The methods are safe for concurrent use; Close is idempotent.
type Service struct {
	ns    *Namespace
	nft   string
	vip   netip.AddrPort
	table string

	mu       sync.Mutex // serializes SetEndpoints and Close; guards below
	gen      int
	chains   []string // endpoint chains of the current rule set
	closed   bool
	replicas map[netip.AddrPort]int32 // every endpoint ever set -> its replica

	ready atomic.Int32 // len of the current endpoint set
	ct    *conntrack
}

var _ endpoint.Target = (*Service)(nil)

// NewService adds the VIP (DefaultVIP if vip is empty; an IPv4 address and
// port) to the namespace's lo, sets net.ipv4.conf.all.route_localnet=1 in
// the namespace (so that DNAT to 127.0.0.1 endpoints is routed), and
// installs the Service's nftables table with no endpoints. It needs root
// and the nft program (Debian package nftables).
func NewService(ns *Namespace, vip string) (*Service, error) {
	if vip == "" {
		vip = DefaultVIP
	}
	ap, err := netip.ParseAddrPort(vip)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("netpath: VIP %q: want an IPv4 address and port", vip)
	}
	nft, err := requireRoot("nft", "nftables")
	if err != nil {
		return nil, err
	}
	s := &Service{
		ns:       ns,
		nft:      nft,
		vip:      ap,
		table:    fmt.Sprintf("drain_svc_%d", ap.Port()),
		replicas: make(map[netip.AddrPort]int32),
	}
	if err := run(ns.ip, "-n", ns.name, "addr", "add", ap.Addr().String()+"/32", "dev", "lo"); err != nil {
		return nil, err
	}
	err = ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/conf/all/route_localnet", []byte("1"), 0)
	})
	if err != nil {
		return nil, fmt.Errorf("netpath: set route_localnet in %s: %w", ns.name, err)
	}
	if err := s.nftApply(s.skeleton()); err != nil {
		return nil, err
	}
	if s.ct, err = openConntrack(ns); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Addr returns the VIP as "ip:port".
func (s *Service) Addr() string { return s.vip.String() }

// skeleton is the table with its hooks and an empty service: the same
// layout as kube-proxy's (nat-output -> services -> service chain ->
// endpoint chains; filter-output rejecting a service with no endpoints).
func (s *Service) skeleton() string {
	t, ip, port := s.table, s.vip.Addr(), s.vip.Port()
	return fmt.Sprintf(`table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain nat-output {
		type nat hook output priority -100; policy accept;
		ip daddr %[2]s tcp dport %[3]d goto service
	}
	chain filter-output {
		type filter hook output priority -110; policy accept;
		ct state new ip daddr %[2]s tcp dport %[3]d jump endpoints-check
	}
	chain endpoints-check {
		reject
	}
	chain service {
	}
	set gone {
		type ipv4_addr . inet_service
	}
	chain filter-input {
		type filter hook input priority 0; policy accept;
		ip daddr . tcp dport @gone drop
	}
}
`, t, ip, port)
}

// SetEndpoints replaces the Service's endpoints by eps in one nftables
// transaction (`nft -f`): a new connection sees either the old set or the
// new one, and established connections keep their endpoints (conntrack).
// Each Addr must be an IPv4 "ip:port" reachable in the namespace (a replica
// or a Relay listening there); Replica is what Dial reports for connections
// the kernel sends to it. An empty eps makes new connections fail with
// ECONNREFUSED.
func (s *Service) SetEndpoints(eps []endpoint.Endpoint) error {
	aps := make([]netip.AddrPort, len(eps))
	for i, ep := range eps {
		ap, err := netip.ParseAddrPort(ep.Addr)
		if err != nil || !ap.Addr().Is4() {
			return fmt.Errorf("netpath: endpoint %q: want an IPv4 address and port", ep.Addr)
		}
		aps[i] = ap
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	gen := s.gen + 1
	var b strings.Builder
	t := s.table
	fmt.Fprintf(&b, "flush chain ip %s service\n", t)
	fmt.Fprintf(&b, "flush chain ip %s endpoints-check\n", t)
	chains := make([]string, len(eps))
	var vmap []string
	for i, ap := range aps {
		chains[i] = fmt.Sprintf("endpoint-%d-%d", gen, i)
		fmt.Fprintf(&b, "add chain ip %s %s\n", t, chains[i])
		fmt.Fprintf(&b, "add rule ip %s %s meta l4proto tcp dnat to %s\n", t, chains[i], ap)
		vmap = append(vmap, fmt.Sprintf("%d : goto %s", i, chains[i]))
	}
	if len(eps) > 0 {
		fmt.Fprintf(&b, "add rule ip %s service numgen random mod %d vmap { %s }\n", t, len(eps), strings.Join(vmap, ", "))
	} else {
		fmt.Fprintf(&b, "add rule ip %s endpoints-check reject\n", t)
	}
	for _, c := range s.chains {
		fmt.Fprintf(&b, "delete chain ip %s %s\n", t, c)
	}
	if err := s.nftApply(b.String()); err != nil {
		return err
	}
	s.gen, s.chains = gen, chains
	for i, ap := range aps {
		s.replicas[ap] = eps[i].Replica
	}
	s.ready.Store(int32(len(eps)))
	return nil
}

// Blackhole makes every packet to addr (an IPv4 "ip:port" in the
// namespace, say an endpoint whose replica exited) vanish, the way packets
// to a deleted pod's address do: a connection to it, through the VIP or
// not, is neither accepted nor refused, its SYNs go unanswered and the
// client waits out its own timeout. The packets are dropped on their way
// in (input hook), after conntrack has confirmed the VIP's DNAT, so a
// retransmitted SYN keeps its endpoint as on a real node. It lasts until
// Close.
func (s *Service) Blackhole(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("netpath: blackhole %q: want an IPv4 address and port", addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.nftApply(fmt.Sprintf("add element ip %s gone { %s . %d }\n", s.table, ap.Addr(), ap.Port()))
}

// Pick returns the VIP with Replica -1 (the kernel chooses the endpoint
// when the connection is made; Dial reports which). ok is false when the
// Service has no endpoints.
func (s *Service) Pick() (endpoint.Endpoint, bool) {
	if s.ready.Load() == 0 {
		return endpoint.Endpoint{}, false
	}
	return endpoint.Endpoint{Addr: s.vip.String(), Replica: -1}, true
}

// Dial connects to ep.Addr from inside the namespace. For a connection to
// the VIP, replica is the Replica of the endpoint the kernel DNATed it to,
// read from the connection's conntrack entry, or -1 if that endpoint is
// unknown or the lookup failed; for any other address it is ep.Replica.
// Dial has the shape of a load client's dial hook.
func (s *Service) Dial(ctx context.Context, ep endpoint.Endpoint) (c net.Conn, replica int32, err error) {
	c, err = s.ns.DialContext(ctx, "tcp", ep.Addr)
	if err != nil {
		return nil, ep.Replica, err
	}
	if ep.Addr != s.vip.String() {
		return c, ep.Replica, nil
	}
	return c, s.Replica(c), nil
}

// Replica returns the Replica of the endpoint the kernel sent c to (c made
// to the VIP from inside the namespace), or -1.
func (s *Service) Replica(c net.Conn) int32 {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1
	}
	dst, err := s.ct.replySource(local.AddrPort(), remote.AddrPort())
	if err != nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.replicas[dst]; ok {
		return r
	}
	return -1
}

// Destination returns the endpoint address the kernel sent c (made to the
// VIP from inside the namespace) to, from c's conntrack entry.
func (s *Service) Destination(c net.Conn) (netip.AddrPort, error) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return netip.AddrPort{}, fmt.Errorf("netpath: not a TCP connection")
	}
	return s.ct.replySource(local.AddrPort(), remote.AddrPort())
}

// Close deletes the Service's nftables table and the VIP address. Closing
// the Namespace removes them too. Established connections keep working
// until their conntrack entries are gone. Close is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.ready.Store(0)
	if s.ct != nil {
		s.ct.close()
	}
	err := s.nftApply(fmt.Sprintf("table ip %[1]s\ndelete table ip %[1]s\n", s.table))
	if err2 := run(s.ns.ip, "-n", s.ns.name, "addr", "del", s.vip.Addr().String()+"/32", "dev", "lo"); err == nil {
		err = err2
	}
	return err
}

// nftApply runs script as one nft transaction inside the namespace: nft
// is started from a thread in the namespace (a child process starts in the
// namespace of the thread that forks it), which saves the exec of
// `ip netns exec`.
func (s *Service) nftApply(script string) error {
	cmd := exec.Command(s.nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := s.ns.Do(cmd.Start); err != nil {
		return fmt.Errorf("netpath: start nft: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("netpath: nft -f: %w: %s\n(script:\n%s)", err, bytes.TrimSpace(out.Bytes()), script)
	}
	return nil
}
