package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// upstreamBin is internal/proxy/testdata/upstream, built once next to
// drainBin.
var (
	upstreamOnce sync.Once
	upstreamBin  string
)

func buildUpstream(t *testing.T) string {
	t.Helper()
	upstreamOnce.Do(func() {
		bin := filepath.Join(filepath.Dir(drainBin), "upstream")
		out, err := osexec.Command("go", "build", "-o", bin, "./internal/proxy/testdata/upstream").CombinedOutput()
		if err != nil {
			t.Fatalf("building the test upstream: %v\n%s", err, out)
		}
		upstreamBin = bin
	})
	if upstreamBin == "" {
		t.Fatal("test upstream not built")
	}
	return upstreamBin
}

// execProc is a running `drain exec`.
type execProc struct {
	t    *testing.T
	cmd  *osexec.Cmd
	addr string // public address
	done chan struct{}
	code int

	mu     sync.Mutex
	cond   *sync.Cond // broadcast on every stderr line and at exit
	stderr strings.Builder
	exited bool
}

// startExec runs drain exec with args (flags, "--", COMMAND...) on a free
// public port and waits until it serves or exits.
func startExec(t *testing.T, args ...string) *execProc {
	t.Helper()
	return startExecUnder(t, nil, args...)
}

// startExecUnder is startExec with drain exec run by the command prefix
// (nil: none), as in "unshare --pid --fork drain exec ...".
func startExecUnder(t *testing.T, prefix []string, args ...string) *execProc {
	t.Helper()
	all := append(append(append([]string(nil), prefix...), drainBin, "exec", "--listen", "127.0.0.1:0"), args...)
	p := &execProc{t: t, cmd: osexec.Command(all[0], all[1:]...), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.cond.Broadcast()
			p.mu.Unlock()
			if strings.Contains(line, "drain exec: serving") {
				if _, a, ok := strings.Cut(line, "listen="); ok {
					serving <- strings.Fields(a)[0]
				}
			}
		}
		p.mu.Lock()
		p.exited = true
		p.cond.Broadcast()
		p.mu.Unlock()
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if ee, ok := err.(*osexec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-serving:
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("drain exec did not start serving:\n%s", p.log())
	}
	return p
}

func (p *execProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// logged waits until drain exec has logged s (or exited) and reports
// whether it did.
func (p *execProc) logged(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !strings.Contains(p.stderr.String(), s) && !p.exited {
		p.cond.Wait()
	}
	return strings.Contains(p.stderr.String(), s)
}

// wait waits for drain exec to exit and returns its status.
func (p *execProc) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		p.t.Fatalf("drain exec still running after %v:\n%s", within, p.log())
		return 0
	}
}

func (p *execProc) signal(s syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

// noKeepAlive leaves no idle connection to hold a drain open until its
// keep-alive timeout.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// rawConn is a keep-alive client connection written by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(t *testing.T, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
}

func (c *rawConn) read(t *testing.T) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestExecUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"exec"}, "no COMMAND given"},
		{[]string{"exec", "--idle", "sometimes", "--", "true"}, `--idle "sometimes"`},
		{[]string{"exec", "--child-signal", "BOGUS", "--", "true"}, `--child-signal "BOGUS"`},
		{[]string{"exec", "--child-grace", "0s", "--", "true"}, "--child-grace 0s"},
		{[]string{"exec", "--ready-path", "ready", "--", "true"}, `--ready-path "ready"`},
		{[]string{"exec", "--", "/nonexistent/server"}, `COMMAND "/nonexistent/server"`},
		{[]string{"exec", "--", "no-such-command-anywhere"}, "executable file not found"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want 2; stderr lacks %q:\n%s", code, tc.stderr, stderr)
			}
		})
	}
	if out, _, code := run(t, "exec", "-h"); code != 0 || out != "" {
		t.Errorf("exec -h: exit %d", code)
	}
}

// TestExecStartFailures: a COMMAND that exits early, one that never
// becomes ready and a public port in use each end drain exec with status 2,
// a message saying why, and no process left behind.
func TestExecStartFailures(t *testing.T) {
	up := buildUpstream(t)
	dir := t.TempDir()

	p := startExec(t, "--", up, "-exit-now", "7")
	if code := p.wait(10 * time.Second); code != 2 || !strings.Contains(p.log(), "exited with status 7 before it was ready") {
		t.Errorf("exits early: exit %d\n%s", code, p.log())
	}

	pidfile := filepath.Join(dir, "never.pid")
	p = startExec(t, "--ready-timeout", "300ms", "--child-grace", "2s", "--", up, "-never-ready", "-pidfile", pidfile)
	if code := p.wait(10 * time.Second); code != 2 || !strings.Contains(p.log(), "not ready after 300ms") || !strings.Contains(p.log(), "GET /health") {
		t.Errorf("never ready: exit %d\n%s", code, p.log())
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	if pid, _ := strconv.Atoi(string(b)); alive(pid) {
		t.Errorf("never-ready application %d still running", pid)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	pidfile = filepath.Join(dir, "busy.pid")
	cmd := osexec.Command(drainBin, "exec", "--listen", busy.Addr().String(), "--", up, "-pidfile", pidfile)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "address already in use") {
		t.Errorf("port in use: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(pidfile); err == nil {
		t.Error("port in use: the application was started anyway")
	}
}

// TestExecExitCodeAndSignals: SIGHUP and SIGUSR1 reach the application;
// SIGTERM drains, then stops the application, whose status drain exec
// exits with.
func TestExecExitCodeAndSignals(t *testing.T) {
	up := buildUpstream(t)
	p := startExec(t, "--", up, "-term-exit", "3")
	if code, body := get(t, "http://"+p.addr+"/"); code != 200 || body != "hello" {
		t.Fatalf("GET /: %d %q", code, body)
	}
	p.signal(syscall.SIGHUP)
	p.signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := get(t, "http://"+p.addr+"/signals")
		// Two different signals sent back to back may arrive in either
		// order (each is forwarded as drain exec receives it).
		if got == "hangup,user defined signal 1" || got == "user defined signal 1,hangup" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("application received %q", got)
		}
		time.Sleep(10 * time.Millisecond) // polling the application's state
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 3 {
		t.Errorf("exit %d, want the application's 3\n%s", code, p.log())
	}
	p.logged("stopping the application")
	log := p.log()
	if i, j := strings.Index(log, "public side drained"), strings.Index(log, "stopping the application"); i < 0 || j < i {
		t.Errorf("the application was not stopped after the drain:\n%s", log)
	}
}

// TestExecChildDies: a request that kills the application gets a 502 at
// once (not a hang); drain exec then drains and exits with its status.
func TestExecChildDies(t *testing.T) {
	up := buildUpstream(t)
	p := startExec(t, "--", up)
	start := time.Now()
	res, err := noKeepAlive.Get("http://" + p.addr + "/crash")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 && res.StatusCode != 503 || !strings.Contains(string(b), "drain exec: the application") {
		t.Errorf("%d %q", res.StatusCode, b)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answer took %v", d)
	}
	if code := p.wait(10 * time.Second); code != 3 {
		t.Errorf("exit %d, want 3\n%s", code, p.log())
	}
}

// TestExecBadServerIdleKeepAlive is the end-to-end case drain exec exists
// for: the application exits the moment it gets SIGTERM, closing
// everything. A client holds an idle keep-alive connection across drain
// exec's SIGTERM and sends on it afterwards; another request is in flight
// at the SIGTERM. Both are answered, because the application gets its
// SIGTERM only after the public side drained.
func TestExecBadServerIdleKeepAlive(t *testing.T) {
	p := startExec(t, "--lame-duck", "1s", "--ready", "until-drain", "--", drainBin, "hello", "--shutdown", "none", "--delay", "0.3")
	idle := dialRaw(t, p.addr)
	idle.send(t, "/")
	if res, body := idle.read(t); res.StatusCode != 200 || body != "Hello, World!" {
		t.Fatalf("first request: %d %q", res.StatusCode, body)
	}
	inflight := dialRaw(t, p.addr)
	inflight.send(t, "/")
	// The request is in flight once its bytes are out; hello takes 300 ms.
	p.signal(syscall.SIGTERM)
	// The drain has begun when readiness says so.
	for {
		code, _ := get(t, "http://"+p.addr+"/health")
		if code == 503 {
			break
		}
	}
	idle.send(t, "/")
	res, body := idle.read(t)
	if res.StatusCode != 200 || body != "Hello, World!" || !res.Close {
		t.Errorf("request on the idle connection after SIGTERM: %d %q close=%v", res.StatusCode, body, res.Close)
	}
	if res, body := inflight.read(t); res.StatusCode != 200 || body != "Hello, World!" {
		t.Errorf("in-flight request: %d %q", res.StatusCode, body)
	}
	// It arrived before the drain, so its response kept the connection
	// open: the client is done with it (else the keep-alive policy closes
	// it after --keepalive).
	inflight.Close()
	// hello --shutdown none dies of the SIGTERM: 128+15.
	if code := p.wait(15 * time.Second); code != 143 {
		t.Errorf("exit %d, want 143\n%s", code, p.log())
	}
}

// TestExecReapsOrphans: a grandchild orphaned by the application is
// reparented to drain exec (child subreaper) and reaped when it exits: no
// zombie is left.
func TestExecReapsOrphans(t *testing.T) {
	up := buildUpstream(t)
	p := startExec(t, "--", up, "-orphan")
	_, s := get(t, "http://"+p.addr+"/orphan")
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("orphan pid %q", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + s + "/stat")
		if err != nil {
			break // reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d not reaped: %s", pid, b)
		}
		time.Sleep(10 * time.Millisecond) // the orphan sleeps 300 ms
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d\n%s", code, p.log())
	}
}

// TestExecSmuggling: a CL.TE request never reaches the application.
func TestExecSmuggling(t *testing.T) {
	up := buildUpstream(t)
	p := startExec(t, "--", up)
	c := dialRaw(t, p.addr)
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG")
	if res, _ := c.read(t); res.StatusCode != 400 {
		t.Errorf("status %d", res.StatusCode)
	}
	p.signal(syscall.SIGTERM) // so logged returns at exit at the latest
	if !p.logged("rejected an ambiguous request") {
		t.Errorf("no log line:\n%s", p.log())
	}
}

// TestExecSlowClientsBounded: a client that never finishes its headers and
// one that never reads its response cannot hold the drain past
// --deadline + --force-after.
func TestExecSlowClientsBounded(t *testing.T) {
	up := buildUpstream(t)
	p := startExec(t, "--deadline", "1s", "--force-after", "500ms", "--", up)
	slow := dialRaw(t, p.addr)
	fmt.Fprint(slow, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	stuck := dialRaw(t, p.addr)
	stuck.send(t, "/big") // and never read
	// The response is in flight when the first bytes arrive.
	if _, err := stuck.r.Peek(1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("drain took %v with --deadline 1s --force-after 500ms\n%s", d, p.log())
	}
}

// TestExecAppKilled: when the application is killed (kill -9) while
// serving, the ready path fails at once, even with --ready through-delay
// (which answers 200 through a drain's lame duck), and drain exec exits
// with the application's status without spending the lame duck serving
// 503s for a dead application.
func TestExecAppKilled(t *testing.T) {
	up := buildUpstream(t)
	pidfile := filepath.Join(t.TempDir(), "pid")
	p := startExec(t, "--lame-duck", "5s", "--ready", "through-delay", "--", up, "-pidfile", pidfile)
	if code, _ := get(t, "http://"+p.addr+"/health"); code != 200 {
		t.Fatalf("ready path before the kill: %d", code)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p.logged("the application exited") {
		t.Fatalf("drain exec did not see the application die:\n%s", p.log())
	}
	// Not ready: a 503, or the connection refused once drain exec left.
	if res, err := noKeepAlive.Get("http://" + p.addr + "/health"); err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 503 {
			t.Errorf("ready path after the kill: %d %q, want 503", res.StatusCode, body)
		}
	}
	// The lame duck is 5 s: an exit well before it proves it was skipped.
	if code := p.wait(10 * time.Second); code != 137 {
		t.Errorf("exit %d, want 137\n%s", code, p.log())
	}
	if d := time.Since(killed); d > 3*time.Second {
		t.Errorf("drain exec exited %v after the kill, want at once (the 5 s lame duck skipped)\n%s", d, p.log())
	}
}

// TestExecAppStopped: an application that is alive but does not answer
// (SIGSTOP) fails the ready path within --ready-probe-timeout, with a 503
// that says why, wherever the ready path is answered: by the application
// (the default), by drain exec (--tcp-ready), and by drain exec through a
// lame duck with --ready through-delay. After SIGCONT it is ready again.
func TestExecAppStopped(t *testing.T) {
	up := buildUpstream(t)
	for _, tc := range []struct {
		name     string
		args     []string
		lameDuck bool
	}{
		{"forwarded", nil, false},
		{"tcp-ready", []string{"--tcp-ready"}, false},
		{"lame-duck", []string{"--lame-duck", "30s", "--ready", "through-delay"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			args := append(append([]string{"--ready-probe-timeout", "300ms"}, tc.args...), "--", up, "-pidfile", pidfile)
			p := startExec(t, args...)
			if tc.lameDuck {
				p.signal(syscall.SIGTERM)
				if !p.logged("drain exec: draining") {
					t.Fatalf("no drain:\n%s", p.log())
				}
			}
			if code, body := get(t, "http://"+p.addr+"/health"); code != 200 {
				t.Fatalf("ready path before SIGSTOP: %d %q", code, body)
			}
			b, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(string(b))
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(pid, syscall.SIGCONT)
			// kill returns once the signal is queued: on a loaded machine
			// a thread of the application still ran long enough to answer
			// the probe (200 after 3.5 ms, under -race with a CPU spinner).
			waitStopped(t, pid)
			start := time.Now()
			probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			code, body := 0, ""
			res, err := probe.Get("http://" + p.addr + "/health")
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				code, body = res.StatusCode, string(b)
			}
			if took := time.Since(start); code != 503 || !strings.Contains(body, "does not answer") || took > 3*time.Second {
				t.Errorf("ready path with the application stopped: %d %q %v after %v; want 503 (does not answer) after about 300ms", code, body, err, took)
			}
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			if code, body := get(t, "http://"+p.addr+"/health"); code != 200 {
				t.Errorf("ready path after SIGCONT: %d %q, want 200", code, body)
			}
		})
	}
}

// waitStopped returns once every thread of pid is stopped (state T in
// /proc), as SIGSTOP leaves it.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			// The state follows the command's closing parenthesis.
			if i := strings.LastIndexByte(string(b), ')'); err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("pid %d not stopped 10 s after SIGSTOP", pid)
}

// TestExecAsPID1: as a container's PID 1 (in a PID namespace of its own,
// as in a container without --init), drain exec gets SIGTERM (PID 1 gets
// only the signals it handles), forwards SIGHUP to the application, reaps
// an orphan the application leaves (no zombie stays), and exits with the
// application's status.
func TestExecAsPID1(t *testing.T) {
	unshare, err := osexec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare (util-linux) for a PID namespace")
	}
	up := buildUpstream(t)
	p := startExecUnder(t, []string{unshare, "--pid", "--fork", "--kill-child"}, "--", up, "-orphan")
	// drain exec is unshare's only child, PID 1 in the new namespace.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.cmd.Process.Pid, p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(kids)))
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "NSpid:\t"+strconv.Itoa(pid)+"\t1\n") {
		t.Fatalf("drain exec (pid %d) is not PID 1 in its namespace:\n%s", pid, status)
	}
	// The orphan (sleep 0.3) is reparented to PID 1 and must be reaped:
	// wait until drain exec has no child left but the application.
	get(t, "http://"+p.addr+"/orphan")
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := childrenOf(pid) // zombies included
		if len(kids) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drain exec as PID 1 still has children %v (an orphan not reaped?)", kids)
		}
		time.Sleep(10 * time.Millisecond) // the orphan sleeps 300 ms
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for {
		if _, s := get(t, "http://"+p.addr+"/signals"); strings.Contains(s, "hangup") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP not forwarded by drain exec as PID 1")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM to PID 1, want the application's 0\n%s", code, p.log())
	}
}

// childrenOf lists the processes whose parent is pid, zombies included
// ("pid state" from /proc/N/stat).
func childrenOf(pid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	return out
}
