//go:build linux

package netpath

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Errors. Each is wrapped with what exactly is missing or failed.
var (
	// ErrNotRoot: creating a network namespace and nftables rules needs
	// root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
	ErrNotRoot = errors.New("netpath: the kernel network path needs root")
	// ErrMissingTool: a program drain shells out to is not installed; the
	// message names the program and its Debian package.
	ErrMissingTool = errors.New("netpath: missing tool")
	// ErrClosed: the Namespace, Service or Relay was closed.
	ErrClosed = errors.New("netpath: closed")
)

// NamePrefix starts the name of every namespace drain creates:
// "drain-<pid>-<n>", pid being the creating process. RemoveStale relies on it.
const NamePrefix = "drain-"

// netnsDir is where `ip netns` keeps the namespaces' bind mounts.
const netnsDir = "/run/netns"

var nsCounter atomic.Uint32

// Namespace is a network namespace created by drain, named
// "drain-<pid>-<n>" and holding only its own loopback interface (up).
// Nothing in it can reach the host's network, and the host's network cannot
// reach it: every address in it, 127.0.0.1 included, is its own.
//
// There are three ways in:
//   - Command prefixes a replica's argv with `ip netns exec NAME`, which
//     enters the namespace and then execs the argv (same pid, so process
//     groups and signals work as without it);
//   - DialContext and Listen create sockets in the namespace from this
//     process (a socket keeps the namespace it was created in; see Do);
//   - Do runs a function on an OS thread that is in the namespace.
//
// Close deletes the namespace, and with it every nftables rule, address and
// socket bound in it once the last process and socket in it is gone. The
// methods are safe for concurrent use; Close is idempotent.
type Namespace struct {
	name string
	ip   string // path of the ip binary

	mu     sync.RWMutex // guards fd and idle against Close
	fd     int          // open /run/netns/NAME; -1 once closed
	closed bool
	idle   chan chan func() // workers waiting for a call to Do
}

// NewNamespace removes the namespaces left by dead drain processes (RemoveStale),
// then creates a new namespace named "drain-<pid>-<n>" with `ip netns add`
// and brings its lo up. It needs root and the ip program (Debian package
// iproute2).
func NewNamespace() (*Namespace, error) {
	ip, err := requireRoot("ip", "iproute2")
	if err != nil {
		return nil, err
	}
	RemoveStale()
	name := fmt.Sprintf("%s%d-%d", NamePrefix, os.Getpid(), nsCounter.Add(1)-1)
	if err := run(ip, "netns", "add", name); err != nil {
		return nil, err
	}
	n := &Namespace{name: name, ip: ip, fd: -1, idle: make(chan chan func(), maxIdleWorkers)}
	fd, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("netpath: open namespace %s: %w", name, err)
	}
	n.fd = fd
	if err := run(ip, "-n", name, "link", "set", "lo", "up"); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.tune(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// tune sets two sysctls of the namespace (each namespace has its own):
//
//   - net.ipv4.ip_local_port_range to a range disjoint from the host's, so
//     a port picked on the host for a replica (a free ephemeral port there)
//     never collides with a port the kernel gives a socket in the namespace
//     (a Relay's listener, a client's connection);
//   - net.ipv4.tcp_tw_reuse=1, so a client making many short connections
//     to one VIP can reuse ports in TIME_WAIT (the default, 2, allows it
//     for loopback addresses only, and the VIP is not one).
func (n *Namespace) tune() error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fmt.Errorf("netpath: read the host's port range: %w", err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return fmt.Errorf("netpath: parse the host's port range %q: %w", b, err)
	}
	sysctls := [][2]string{{"/proc/sys/net/ipv4/tcp_tw_reuse", "1"}}
	const minPorts = 4096
	switch { // the larger of the two ranges outside the host's
	case lo-1024 >= 65535-hi && lo-1024 >= minPorts:
		sysctls = append(sysctls, [2]string{"/proc/sys/net/ipv4/ip_local_port_range", fmt.Sprintf("1024 %d", lo-1)})
	case 65535-hi >= minPorts:
		sysctls = append(sysctls, [2]string{"/proc/sys/net/ipv4/ip_local_port_range", fmt.Sprintf("%d 65535", hi+1)})
	default: // the host's range leaves too few ports: keep it
	}
	return n.Do(func() error {
		for _, kv := range sysctls {
			if err := os.WriteFile(kv[0], []byte(kv[1]), 0); err != nil {
				return fmt.Errorf("netpath: set %s in %s: %w", kv[0], n.name, err)
			}
		}
		return nil
	})
}

// Name returns the namespace's name, as `ip netns list` shows it.
func (n *Namespace) Name() string { return n.name }

// Command returns argv prefixed so that it runs inside the namespace:
// ["/usr/sbin/ip", "netns", "exec", NAME, argv...]. ip enters the namespace
// and execs argv[0] (looked up in PATH), so the process started keeps the
// pid of the process started, and signals sent to it reach argv[0].
func (n *Namespace) Command(argv ...string) []string {
	return append([]string{n.ip, "netns", "exec", n.name}, argv...)
}

// Do runs f on an OS thread that is in the namespace and returns f's
// error. Sockets f creates belong to the namespace for their whole life,
// whichever thread uses them later. f must not start goroutines that create
// sockets: they run on other threads, in drain's own namespace.
//
// The threads are kept: a goroutine locked to its thread enters the
// namespace once (setns) and then runs one f after the other, and up to
// maxIdleWorkers of them wait for the next call. Such a thread never leaves
// the namespace; it ends with its goroutine, after Close. Calls run
// concurrently, each on its own thread.
func (n *Namespace) Do(f func() error) error {
	w, err := n.worker()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	w <- func() { errc <- f() }
	err = <-errc
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		close(w)
		return err
	}
	select {
	case n.idle <- w:
	default:
		close(w)
	}
	return err
}

// maxIdleWorkers bounds the threads kept in the namespace between calls.
const maxIdleWorkers = 16

// worker returns an idle worker or starts a new one.
func (n *Namespace) worker() (chan func(), error) {
	select {
	case w := <-n.idle:
		return w, nil
	default:
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return nil, ErrClosed
	}
	w := make(chan func())
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread is in the namespace and must end
		// with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netpath: enter namespace %s: %w", n.name, err)
			return
		}
		errc <- nil
		for f := range w {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return w, nil
}

// DialContext dials addr like net.Dialer.DialContext, from inside the
// namespace. addr must be a literal IP and port (no name resolution).
func (n *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens on addr like net.Listen, inside the namespace. Accepted
// connections belong to the namespace too.
func (n *Namespace) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Close deletes the namespace (`ip netns delete`). The kernel frees it, with
// its addresses and nftables rules, once no process runs in it and no
// socket created in it is open: stop the replicas and close the sockets
// first. The threads kept by Do end (a call still running ends its thread
// when it returns). Close is idempotent; only the first call does the work.
func (n *Namespace) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
drain:
	for {
		select {
		case w := <-n.idle:
			close(w)
		default:
			break drain
		}
	}
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	n.mu.Unlock()
	return run(n.ip, "netns", "delete", n.name)
}

// RemoveStale deletes every namespace named "drain-<pid>-..." whose pid is not a
// running process: the namespaces of drain processes that were killed
// (SIGKILL, a crash) before Close ran. A namespace outlives its process
// because `ip netns add` bind-mounts it in /run/netns; the replicas it ran
// died with drain (their parent-death signal is SIGKILL). It returns the
// names deleted. NewNamespace calls it; call it at start to clean up early.
// A pid reused by an unrelated process keeps its stale namespace until that
// process ends: RemoveStale never deletes a namespace of a live pid.
func RemoveStale() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netpath: removing stale namespaces: %w", err)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, missing("ip", "iproute2")
	}
	var deleted []string
	var errs []error
	for _, e := range ents {
		pid, ok := namePid(e.Name())
		if !ok || pidAlive(pid) {
			continue
		}
		if err := run(ip, "netns", "delete", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, e.Name())
	}
	return deleted, errors.Join(errs...)
}

// namePid returns the pid in a name "drain-<pid>" or "drain-<pid>-<rest>".
func namePid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, NamePrefix)
	if !ok {
		return 0, false
	}
	s, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// pidAlive reports whether pid is a process (a zombie counts: its parent
// may still Close its namespace).
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// requireRoot checks for root and for the program prog (from the Debian
// package pkg) and returns its path.
func requireRoot(prog, pkg string) (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w (running as uid %d)", ErrNotRoot, os.Geteuid())
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", missing(prog, pkg)
	}
	return path, nil
}

func missing(prog, pkg string) error {
	return fmt.Errorf("%w: %s not found in PATH (Debian package %s: apt-get install %s)", ErrMissingTool, prog, pkg, pkg)
}

// run runs a command and returns an error naming it and its output.
func run(argv ...string) error { return runInput(nil, argv...) }

func runInput(stdin []byte, argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("netpath: %s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
