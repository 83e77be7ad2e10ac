package execrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drainhttp/drain"
)

// TestRunServesAndStops runs drain exec without its command line: the
// application starts, is served through the public address, and when ctx
// ends the drain runs and Run returns the application's status (the test
// upstream exits 7 on SIGTERM).
func TestRunServesAndStops(t *testing.T) {
	bin := buildUpstream(t)
	addr, stop := serveRun(t, bin)
	getHello(t, addr)
	_, err := stop()
	wantStatus7(t, err)
}

// TestRunPortTakenAtStart: the port picked for the application is taken
// (by this test: a listener that never accepts) before the application
// binds it; the application exits ("address already in use"), and drain
// exec starts it again on a fresh port and serves. The old Run failed:
// "exited with status 1 before it was ready".
func TestRunPortTakenAtStart(t *testing.T) {
	bin := buildUpstream(t)
	heldPort := takenPort(t, 1)
	addr, stop := serveRun(t, bin)
	getHello(t, addr)
	log, err := stop()
	wantStatus7(t, err)
	if want := "port=" + strconv.Itoa(heldPort); !strings.Contains(log, "starting it again on another port") || !strings.Contains(log, want) {
		t.Errorf("log lacks the restart on another port (%s):\n%s", want, log)
	}
}

// takenPort makes freePort hand out a port this test holds (a listener
// that never accepts, as another process's would be) for its first n
// calls, then free ones, and returns the held port.
func takenPort(t *testing.T, n int) int {
	t.Helper()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	port := held.Addr().(*net.TCPAddr).Port
	orig := freePort
	calls := 0
	freePort = func() (int, error) {
		if calls++; calls <= n {
			return port, nil
		}
		return orig()
	}
	t.Cleanup(func() { freePort = orig })
	return port
}

// buildUpstream builds the proxy's test application; with -term-exit 7
// it exits 7 on SIGTERM.
func buildUpstream(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "upstream")
	if out, err := exec.Command("go", "build", "-o", bin, "../proxy/testdata/upstream").CombinedOutput(); err != nil {
		t.Fatalf("building the test upstream: %v\n%s", err, out)
	}
	return bin
}

// serveRun starts Run for bin (-term-exit 7) on a free public address and
// returns once it serves (its log says so). stop ends it as SIGTERM would
// and returns the whole log and Run's error.
func serveRun(t *testing.T, bin string) (addr string, stop func() (log string, err error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	logR, logW := io.Pipe()
	serving := make(chan struct{})
	var log strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "drain exec: serving") {
				close(serving)
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Path: bin, Command: []string{bin, "-term-exit", "7"},
			Listen: addr, ReadyPath: "/health", UpstreamReadyPath: "/health",
			ReadyTimeout: 20 * time.Second, ChildSignal: syscall.SIGTERM, ChildSignalName: "TERM",
			ChildGrace: 5 * time.Second, Drain: drain.Options{Delay: -1},
			ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10, FastPath: true,
			Stdin: os.Stdin, Stdout: io.Discard, Stderr: logW,
		})
		logW.Close()
	}()
	select {
	case <-serving:
	case err := <-done:
		<-logDone
		t.Fatalf("Run returned before serving: %v\n%s", err, log.String())
	}
	return addr, func() (string, error) {
		cancel()
		err := <-done
		<-logDone
		return log.String(), err
	}
}

// getHello asks the test application for / through addr.
func getHello(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "hello" {
		t.Fatalf("through drain exec: %d %q", res.StatusCode, b)
	}
}

func wantStatus7(t *testing.T, err error) {
	t.Helper()
	var ee ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("Run: %v, want the application's status 7", err)
	}
}

// TestRunPortAlwaysTaken: every port handed out is taken; after
// startTries starts Run fails before serving (ErrStart) and says so.
func TestRunPortAlwaysTaken(t *testing.T) {
	bin := buildUpstream(t)
	heldPort := takenPort(t, math.MaxInt)
	log := new(lockedBuffer)
	err := Run(context.Background(), Config{
		Path: bin, Command: []string{bin},
		Listen: "127.0.0.1:0", ReadyPath: "/health", UpstreamReadyPath: "/health",
		ReadyTimeout: 20 * time.Second, ChildSignal: syscall.SIGTERM, ChildSignalName: "TERM",
		ChildGrace: 5 * time.Second, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10,
		Stdin: os.Stdin, Stdout: io.Discard, Stderr: log,
	})
	if !errors.Is(err, ErrStart) {
		t.Fatalf("Run: %v, want ErrStart", err)
	}
	want := fmt.Sprintf("its port, %d, was in use by another process after it exited: %d tries", heldPort, startTries)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if n := strings.Count(log.String(), "starting it again on another port"); n != startTries-1 {
		t.Errorf("%d restarts logged, want %d:\n%s", n, startTries-1, log.String())
	}
}

// lockedBuffer is a Stderr for Run: the log and the application's output
// reach it from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
