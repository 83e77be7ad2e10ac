//go:build !linux

package netpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

// The kernel network path needs Linux: network namespaces (setns),
// nftables and ctnetlink. On other systems the package builds, so that the
// rest of drain (the model network, hello, exec) does, and NewPath says
// why it cannot run. namespace.go and conntrack.go hold the real thing.

// ErrUnsupported: the kernel network path exists only on Linux.
var ErrUnsupported = errors.New("netpath: the kernel network path needs Linux (network namespaces, nftables); use --network=model")

// The errors of namespace.go, for code that tests for them.
var (
	ErrNotRoot     = errors.New("netpath: the kernel network path needs root")
	ErrMissingTool = errors.New("netpath: missing tool")
	ErrClosed      = errors.New("netpath: closed")
)

// NamePrefix starts the name of every namespace drain creates on Linux.
const NamePrefix = "drain-"

func unsupported() error { return fmt.Errorf("%w (this is %s)", ErrUnsupported, runtime.GOOS) }

// Namespace is a Linux network namespace; none can be created here.
type Namespace struct{ name, ip string }

// NewNamespace returns ErrUnsupported.
func NewNamespace() (*Namespace, error) { return nil, unsupported() }

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Command returns argv unchanged: there is no namespace to enter.
func (n *Namespace) Command(argv ...string) []string { return argv }

// Do returns ErrUnsupported.
func (n *Namespace) Do(func() error) error { return unsupported() }

// DialContext returns ErrUnsupported.
func (n *Namespace) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, unsupported()
}

// Listen returns ErrUnsupported.
func (n *Namespace) Listen(string, string) (net.Listener, error) { return nil, unsupported() }

// Close does nothing.
func (n *Namespace) Close() error { return nil }

// Sweep has nothing to sweep.
func Sweep() ([]string, error) { return nil, nil }

func requireRoot(string, string) (string, error) { return "", unsupported() }

func run(...string) error { return unsupported() }

func runInput([]byte, ...string) error { return unsupported() }

type conntrack struct{}

func openConntrack(*Namespace) (*conntrack, error) { return nil, unsupported() }

func (*conntrack) close() {}

func (*conntrack) replySource(netip.AddrPort, netip.AddrPort) (netip.AddrPort, error) {
	return netip.AddrPort{}, unsupported()
}
