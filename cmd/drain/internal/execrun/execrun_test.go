package execrun

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	bin := filepath.Join(t.TempDir(), "upstream")
	if out, err := exec.Command("go", "build", "-o", bin, "../proxy/testdata/upstream").CombinedOutput(); err != nil {
		t.Fatalf("building the test upstream: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logR, logW := io.Pipe()
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "drain exec: serving") {
				close(serving)
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
		t.Fatalf("Run returned before serving: %v", err)
	}
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
	cancel()
	err = <-done
	var ee ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("Run: %v, want the application's status 7", err)
	}
}
