package netpath

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain runs the helper process when asked to (see helperDial), and
// fails the package if a goroutine survives the tests.
func TestMain(m *testing.M) {
	if addr := os.Getenv("NETPATH_HELPER_DIAL"); addr != "" {
		os.Exit(helperDial(addr))
	}
	goleak.VerifyTestMain(m)
}

// helperDial is a replica stand-in run through Namespace.Command: it prints
// its pid, dials addr, says hello and prints the answer.
func helperDial(addr string) int {
	fmt.Println(os.Getpid())
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Fprintln(c, "hello")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(line)
	return 0
}

// needRoot skips the test without root or without the tools the kernel
// path runs (ip from Debian's iproute2, nft from nftables), naming the
// install command; .ci/run installs them, so CI runs these tests.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kernel network path needs root")
	}
	for _, tool := range [][2]string{{"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			t.Skipf("%s not found: apt-get install %s", tool[0], tool[1])
		}
	}
}

// newNamespace creates a namespace removed at the end of the test.
func newNamespace(t *testing.T) *Namespace {
	t.Helper()
	needRoot(t)
	ns, err := NewNamespace()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

// netnsList returns the names `ip netns list` shows.
func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for l := range strings.Lines(string(out)) {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names
}

// server is a tiny TCP server: for each line it reads it answers
// "<name> <line>". It records the peers it accepted.
type server struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cs   []net.Conn
}

func newServer(t *testing.T, name string, ln net.Listener) *server {
	s := &server{name: name, ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "%s %s", s.name, line)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.cs {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// ask sends line on c and returns the name of the server that answered.
func ask(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, "ping"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if rest != "ping" {
		t.Fatalf("answer %q", line)
	}
	return name
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ownNetns returns the namespaces of this test process (`go test ./...`
// runs other packages at the same time, whose tests make their own).
func ownNetns(t *testing.T) []string {
	t.Helper()
	prefix := fmt.Sprintf("drain-%d-", os.Getpid())
	var own []string
	for _, n := range netnsList(t) {
		if strings.HasPrefix(n, prefix) {
			own = append(own, n)
		}
	}
	return own
}
