//go:build linux

package netpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestNamespaceCreateDelete: the namespace exists with lo up while open,
// and `ip netns list` is as before once it is closed.
func TestNamespaceCreateDelete(t *testing.T) {
	needRoot(t)
	before := ownNetns(t)
	ns, err := NewNamespace()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ns.Name(), fmt.Sprintf("drain-%d-", os.Getpid())) {
		t.Errorf("name %q, want drain-<pid>-<n>", ns.Name())
	}
	if !slices.Contains(netnsList(t), ns.Name()) {
		t.Errorf("%s not in ip netns list", ns.Name())
	}
	out, err := exec.Command("ip", "-n", ns.Name(), "-o", "link", "show", "lo").Output()
	if err != nil || !strings.Contains(string(out), ",UP") {
		t.Errorf("lo in %s: %s %v, want UP", ns.Name(), out, err)
	}
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ns.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if after := ownNetns(t); !slices.Equal(before, after) {
		t.Errorf("ip netns list: before %q, after %q", before, after)
	}
	if err := ns.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}

// TestNamespaceProcessAndSockets: a process started with Command and a
// listener made with Listen are in the same namespace (the process reaches
// the listener on 127.0.0.1), and it is not drain's own.
func TestNamespaceProcessAndSockets(t *testing.T) {
	ns := newNamespace(t)
	ln, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	newServer(t, "in-namespace", ln)
	var lo, hi int
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	fmt.Sscan(string(b), &lo, &hi)
	if p := ln.Addr().(*net.TCPAddr).Port; p >= lo && p <= hi {
		t.Errorf("port %d given in the namespace is in the host's range %d-%d", p, lo, hi)
	}

	cmd := exec.Command(os.Args[0])
	cmd.Args = ns.Command(os.Args[0], "-test.run=^$")
	cmd.Path = cmd.Args[0]
	cmd.Env = append(os.Environ(), "NETPATH_HELPER_DIAL="+ln.Addr().String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper in namespace: %v\n%s", err, stderrOf(err))
	}
	// ip execs the command: its pid is the pid started (signals reach it).
	want := fmt.Sprintf("%d\nin-namespace hello", cmd.Process.Pid)
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("helper printed %q, want %q", got, want)
	}

	// The same process outside the namespace cannot reach the listener.
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), "NETPATH_HELPER_DIAL="+ln.Addr().String())
	if out, err := host.Output(); err == nil && strings.Contains(string(out), "in-namespace") {
		t.Errorf("reached the namespace's listener from the host: %q", out)
	}

	// Do's thread is in the namespace; the caller's is not.
	var inside string
	ns.Do(func() error {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return nil
	})
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	nsFile, err := os.Stat(filepath.Join(netnsDir, ns.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat("/proc/thread-self/ns/net"); err != nil || os.SameFile(st, nsFile) {
		t.Errorf("the caller's thread is in the namespace after Do (%v)", err)
	}
	if ino := fmt.Sprintf("net:[%d]", nsFile.Sys().(*syscall.Stat_t).Ino); inside != ino || self == ino {
		t.Errorf("Do ran in %q, the caller in %q; the namespace is %s", inside, self, ino)
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// TestRemoveStale: a namespace left by a dead pid is deleted; a live one is kept.
func TestRemoveStale(t *testing.T) {
	live := newNamespace(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("drain-%d-0", dead.Process.Pid)
	if err := exec.Command("ip", "netns", "add", stale).Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", stale).Run() })

	deleted, err := RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(deleted, stale) || slices.Contains(deleted, live.Name()) {
		t.Errorf("RemoveStale deleted %q; want %s and not %s", deleted, stale, live.Name())
	}
	names := netnsList(t)
	if slices.Contains(names, stale) || !slices.Contains(names, live.Name()) {
		t.Errorf("after RemoveStale: %q", names)
	}
}

func TestNamePid(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"drain-123", 123, true},
		{"drain-123-4", 123, true},
		{"drain-x-1", 0, false},
		{"drain-", 0, false},
		{"drain-0-1", 0, false},
		{"other-123", 0, false},
		{"cni-1234", 0, false},
	} {
		pid, ok := namePid(tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("namePid(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

// BenchmarkNamespaceDial: the cost of dialing from inside the namespace
// (a locked thread, two setns calls) against a plain dial.
func BenchmarkNamespaceDial(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	ns, err := NewNamespace()
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	for _, inside := range []bool{false, true} {
		listen, dial := net.Listen, (&net.Dialer{}).DialContext
		if inside {
			listen, dial = ns.Listen, ns.DialContext
		}
		ln, err := listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		b.Run(fmt.Sprintf("namespace=%v", inside), func(b *testing.B) {
			for b.Loop() {
				c, err := dial(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
		ln.Close()
		<-done
	}
}
