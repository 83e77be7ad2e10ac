package drain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runChild serves as a child process when the test binary is re-executed by
// TestSIGTERMChildProcess. It reports whether it ran.
func runChild() bool {
	switch os.Getenv("DRAIN_TEST_CHILD") {
	case "1":
	default:
		return false
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	d := New(Options{Delay: 200 * time.Millisecond, Logger: quietLog})
	d.Add(&http.Server{Handler: hello}, ln)
	fmt.Println(ln.Addr())
	if err := d.Run(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func TestSIGTERMChildProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DRAIN_TEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(line)
	c := dialRaw(t, addr)
	c.write(get)
	c.response()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // idle across the SIGTERM and past the delay
	c.write(get)
	if resp := c.response(); !resp.Close {
		t.Error("no Connection: close after SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child exit: %v", err)
	}
}

// TestSignalRightAfterContextDoesNotForce: with signal.NotifyContext and the
// Drainer's own Signals, one SIGTERM cancels the context and also reaches
// the Drainer a moment later. That second delivery must not force the drain.
func TestSignalRightAfterContextDoesNotForce(t *testing.T) {
	release := make(chan struct{})
	inHandler := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Options{Logger: quietLog, Signals: []os.Signal{syscall.SIGUSR1}})
	d.Add(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		io.WriteString(w, "done")
	})}, ln)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	c := dialRaw(t, ln.Addr().String())
	c.write(get)
	<-inHandler
	cancel() // what NotifyContext does on the signal...
	<-d.Draining()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1) // ...and the same signal reaching the Drainer
	time.Sleep(50 * time.Millisecond)          // give a wrong force time to happen
	close(release)
	if resp := c.response(); resp.StatusCode != 200 {
		t.Errorf("in-flight request: %d", resp.StatusCode)
	}
	c.c.Close()
	if err := <-errc; err != nil {
		t.Errorf("Run = %v, want nil: the duplicate signal forced the drain", err)
	}
}
