// Command scale measures a drain with many persistent connections: it starts
// `drain hello --shutdown=drain` as a real process, opens n keep-alive
// connections (one request each), sends SIGTERM, then one more request on
// every connection, and reports lost requests, the time from SIGTERM to the
// server's exit, and the server's resident memory per connection.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("drain", "drain", "the drain binary")
	n := flag.Int("conns", 1000, "persistent connections")
	viaExec := flag.Bool("exec", false, "measure `drain exec` in front of `drain hello --shutdown=stdlib` instead of the library")
	keepalive := flag.String("keepalive", "0", "--keepalive for the server (0: its default, 5s); above the setup time, or connections quiet longer than it are closed at SIGTERM by design and count as lost")
	flag.Parse()
	if err := run(*bin, *n, *viaExec, *keepalive); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, viaExec bool, keepalive string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "hello", "--shutdown=drain", "--keepalive", keepalive, "--addr", addr)
	what := "library"
	if viaExec {
		// RSS below is drain exec's alone (the app behind it is not counted).
		cmd = exec.Command(bin, "exec", "--q", "--keepalive", keepalive, "--listen", addr, "--", bin, "hello", "--shutdown=stdlib", "--addr", "{addr}")
		what = "exec"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for i := 0; ; i++ {
		if r, err := http.Get("http://" + addr + "/"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			return fmt.Errorf("server never listened on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()
	rss0 := rss(cmd.Process.Pid)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	conns := make([]net.Conn, n)
	rds := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("conn %d: %w (raise the fd limit: ulimit -n)", i, err)
		}
		conns[i], rds[i] = c, bufio.NewReader(c)
		c.Write(req)
		if err := readOne(rds[i]); err != nil {
			return fmt.Errorf("conn %d: %w", i, err)
		}
	}
	rss1 := rss(cmd.Process.Pid)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	lost := 0
	for i, c := range conns {
		c.Write(req)
		if err := readOne(rds[i]); err != nil {
			lost++
		}
		c.Close()
	}
	sent := time.Since(start)
	if err := <-exited; err != nil {
		return fmt.Errorf("server: %w", err)
	}
	drain := time.Since(start)
	fmt.Printf("%-7s conns %6d  lost %d  last answer %8.1f ms  SIGTERM->exit %8.1f ms  server RSS %6.1f KiB/conn\n",
		what, n, lost, float64(sent.Microseconds())/1000, float64(drain.Microseconds())/1000, float64(rss1-rss0)/float64(n))
	return nil
}

func readOne(br *bufio.Reader) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// rss returns the resident set of pid in KiB.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
