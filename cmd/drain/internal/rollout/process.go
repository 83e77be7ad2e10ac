package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
)

// Errors returned by Start and Roll, wrapped with the replica, its command,
// its port and the last lines of its stderr.
var (
	ErrExitedEarly = errors.New("rollout: replica exited before it was ready")
	ErrNotReady    = errors.New("rollout: replica not ready in time")
	ErrNoCommand   = errors.New("rollout: empty Command")
	ErrStopped     = errors.New("rollout: runner stopped")
)

// proc is one replica process. Fields below mu are guarded by Runner.mu.
type proc struct {
	id     int32
	port   int
	addr   string
	argv   []string
	cmd    *exec.Cmd
	stderr *tail
	done   chan struct{} // closed once the process is reaped and Exited recorded

	// guarded by Runner.mu
	pid       int
	gone      bool // the leader exited (not yet necessarily reaped)
	deleting  bool // endpoint removal began (deletion moment)
	leftSlice bool // its exit reached the client: it can no longer join the fallback list
	original  bool
	rep       ReplicaReport

	removed chan struct{} // closed once the endpoint removal is done (if deleting)
	added   chan struct{} // closed once the endpoint was added, or never will be
}

// start starts the process in its own process group, with PORT set and
// "{port}" replaced, and with SIGKILL as its parent-death signal so nothing
// survives drain. Its output goes to stdout and stderr (and the stderr tail).
func (p *proc) start(plan *Plan, stdout, stderr io.Writer) error {
	port := strconv.Itoa(p.port)
	p.argv = make([]string, len(plan.Command))
	for i, a := range plan.Command {
		if i > 0 {
			a = strings.ReplaceAll(a, "{port}", port)
		}
		p.argv[i] = a
	}
	argv := p.argv
	if plan.Wrap != nil {
		argv = plan.Wrap(slices.Clone(argv))
		if len(argv) == 0 {
			return errors.New("rollout: Plan.Wrap returned an empty argv")
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), plan.Env...), "PORT="+port)
	if stdout != io.Discard {
		cmd.Stdout = stdout // else /dev/null
	}
	cmd.Stderr = io.MultiWriter(stderr, p.stderr)
	attr, err := replicaSysProcAttr()
	if err != nil {
		return err
	}
	cmd.SysProcAttr = attr
	// The whole group is killed when the leader exits, so the pipes close;
	// this only guards against a member that left the group and kept them.
	cmd.WaitDelay = time.Second
	p.cmd = cmd
	return cmd.Start()
}

// describe names the replica for an error message.
func (p *proc) describe() string {
	return fmt.Sprintf("replica %d (%q on %s)", p.id, strings.Join(p.argv, " "), p.addr)
}

// failure wraps err with the replica's description and its stderr tail.
func (p *proc) failure(err error) error {
	msg := p.describe()
	if s := p.stderr.String(); s != "" {
		msg += "; last stderr:\n" + s
	}
	return fmt.Errorf("%w: %s", err, msg)
}

// waitReady polls the readiness probe every interval, the first time delay
// after start, until it passes, the process exits, timeout elapses after
// the delay, or ctx is done.
func (p *proc) waitReady(ctx context.Context, plan *Plan, client *http.Client, started time.Time, delay time.Duration) error {
	limit := delay + plan.ReadyTimeout
	ctx, cancel := context.WithDeadline(ctx, started.Add(limit))
	defer cancel()
	if wait := time.Until(started.Add(delay)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-p.done:
			t.Stop()
			return p.failure(fmt.Errorf("%w: %v", ErrExitedEarly, p.cmd.ProcessState))
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	tick := time.NewTicker(plan.ReadyInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return p.failure(fmt.Errorf("%w: %v", ErrExitedEarly, p.cmd.ProcessState))
		default:
		}
		if probe(ctx, plan, client, p.addr) {
			return nil
		}
		select {
		case <-p.done:
			return p.failure(fmt.Errorf("%w: %v", ErrExitedEarly, p.cmd.ProcessState))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && time.Since(started) >= limit {
				return p.failure(fmt.Errorf("%w: not ready after %v", ErrNotReady, limit))
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// probe runs one readiness check: a TCP connect, or an HTTP GET answered
// with any 200-399 (child.Ready: Kubernetes' rule, as for drain exec).
func probe(ctx context.Context, plan *Plan, client *http.Client, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
	defer cancel()
	if plan.TCPReady {
		dial := plan.Dial
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+plan.ReadyPath, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return child.Ready(resp.StatusCode)
}

// newProbeClient returns a plain client without keep-alives or proxy, so
// every probe is a new connection and none stays open; dial (if not nil)
// opens its connections.
func newProbeClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// freePort returns a loopback port that was free a moment ago and is not in
// used.
func freePort(used map[int]bool) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("rollout: pick a port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !used[port] {
			used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("rollout: pick a port: no new free port")
}

// tail keeps the last tailLines lines written to it.
type tail struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
}

const tailLines = 10

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.part = append(t.part, b...)
			if len(t.part) > 4096 {
				t.part = t.part[len(t.part)-4096:]
			}
			break
		}
		line := append(t.part, b[:i]...)
		t.part = nil
		t.lines = append(t.lines, line)
		if len(t.lines) > tailLines {
			t.lines = t.lines[1:]
		}
		b = b[i+1:]
	}
	return n, nil
}

// String returns the kept lines, the unfinished one last.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sb strings.Builder
	for _, l := range t.lines {
		sb.Write(l)
		sb.WriteByte('\n')
	}
	if len(t.part) > 0 {
		sb.Write(t.part)
		sb.WriteByte('\n')
	}
	return strings.TrimRight(sb.String(), "\n")
}

// lockedWriter serializes writes of several replicas to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write never fails: a replica must not block or die because its log
// writer broke, so after an error the rest of the output is discarded.
func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(b); err != nil {
		l.w = io.Discard
	}
	return len(b), nil
}
