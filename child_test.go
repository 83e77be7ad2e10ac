package drain

import (
	"bufio"
	"context"
	"fmt"
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
	if os.Getenv("DRAIN_TEST_CHILD") != "1" {
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
