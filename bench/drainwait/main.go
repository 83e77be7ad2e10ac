// Command drainwait measures what a drain costs while it waits: it starts
// `drain hello --shutdown=drain` as a real process, measures its CPU over a
// window with no connections (steady-state idle), opens n connections of one
// kind (slowloris: half-sent request heads; idle: keep-alive connections after
// one answered request; recent: idle ones that each carry one more request
// just before SIGTERM, so that the drain waits on connections used within
// the keep-alive timeout; noread: clients that pipeline requests and never
// read the answers), measures the CPU over the same window with them held, sends
// SIGTERM and measures the CPU over the same window of the drain, then waits
// for the exit. CPU is utime+stime from /proc/PID/stat.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("drain", "drain", "the drain binary")
	mode := flag.String("mode", "slowloris", "slowloris, idle, recent or noread")
	n := flag.Int("conns", 2000, "connections")
	win := flag.Duration("window", 5*time.Second, "measurement window (idle, held, draining)")
	flag.IntVar(&pipeline, "pipeline", 40000, "noread: requests each client sends at once (enough answers to fill the socket buffers: 8000, 0.9 MB, did not)")
	flag.BoolVar(&viaExec, "exec", false, "measure `drain exec` in front of `drain hello --shutdown=stdlib` (CPU and RSS of drain exec alone) instead of the library")
	flag.Parse()
	if err := run(*bin, *mode, *n, *win); err != nil {
		fmt.Fprintln(os.Stderr, "drainwait:", err)
		os.Exit(1)
	}
}

var (
	pipeline int
	viaExec  bool
)

func run(bin, mode string, n int, win time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "hello", "--shutdown=drain", "--addr", addr)
	if viaExec {
		// drain exec's own figures: the app behind it is another process.
		cmd = exec.Command(bin, "exec", "-q", "--listen", addr, "--", bin, "hello", "--shutdown=stdlib", "--addr", "{addr}")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for i := 0; ; i++ {
		if r, err := http.Get("http://" + addr + "/"); err == nil {
			r.Body.Close()
			break
		}
		if i > 200 {
			return fmt.Errorf("server never answered on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(time.Second)
	idleCPU := measure(pid, win)
	rss0 := rss(pid)

	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("conn %d: %w (raise the fd limit: ulimit -n)", i, err)
		}
		conns = append(conns, c)
		switch mode {
		case "slowloris":
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // never the final CRLF
		case "idle", "recent":
			if err := exchange(c, req); err != nil {
				return fmt.Errorf("conn %d: %w", i, err)
			}
		case "noread":
			c.(*net.TCPConn).SetReadBuffer(4096)
			// Pipelined requests, answers never read: the server's
			// writes block once the socket buffers fill.
			go c.Write(bytes.Repeat(req, pipeline))
		default:
			return fmt.Errorf("unknown -mode %q: want slowloris, idle, recent or noread", mode)
		}
	}
	// Settle: wait until the server is quiet (at most 1 tick of CPU in a
	// second), so that the held window measures a server that waits, not one
	// still serving what the clients sent (noread pipelines many requests).
	settled := time.Now()
	for measure(pid, time.Second) > 0.01 && time.Since(settled) < 90*time.Second {
	}
	settle := time.Since(settled)
	heldCPU := measure(pid, win)
	rss1 := rss(pid)

	if mode == "recent" {
		// One more request on every connection, the last just before
		// SIGTERM: the first is used about n × 0.2 ms before it, well
		// inside the 5 s keep-alive timeout.
		refresh := time.Now()
		for i, c := range conns {
			if err := exchange(c, req); err != nil {
				return fmt.Errorf("conn %d, second request: %w", i, err)
			}
		}
		fmt.Fprintf(os.Stderr, "drainwait: %d connections used again in %v\n", n, time.Since(refresh).Round(time.Millisecond))
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	c0 := cpu(pid)
	// The process's own CPU until it exits, sampled: with -exec the exit
	// status's rusage would add the app's whole life (a waited-for child).
	var last atomic.Int64
	last.Store(c0)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if v := cpu(pid); v > 0 {
					last.Store(v)
				}
			}
		}
	}()
	var drainCPU float64
	var exitAfter time.Duration
	var exitErr error
	select {
	case exitErr = <-exited:
		exitAfter = time.Since(start)
		drainCPU = -1 // exited inside the window: see "whole drain"
	case <-time.After(win):
		drainCPU = float64(cpu(pid)-c0) / 100
		rss2 := rss(pid)
		select {
		case exitErr = <-exited:
			exitAfter = time.Since(start)
		case <-time.After(60 * time.Second):
			exitAfter = -1
		}
		_ = rss2
	}
	for _, c := range conns {
		c.Close()
	}
	close(stopSampling)
	<-sampled
	whole := -1.0
	if ps := cmd.ProcessState; ps != nil {
		whole = (ps.UserTime() + ps.SystemTime()).Seconds() - float64(c0)/100
	}
	if viaExec { // to the last sample, at most 50 ms before the exit
		whole = float64(last.Load()-c0) / 100
	}
	pct := func(s float64) float64 { return 100 * s / win.Seconds() }
	if viaExec {
		fmt.Print("exec ")
	}
	fmt.Printf("mode %-9s conns %5d  window %.0fs  settled after %.0fs  idle %.2f CPU-s (%.1f%%)  held %.2f CPU-s (%.1f%%)  draining %.2f CPU-s (%.1f%%, %+.1f%% over idle)  SIGTERM->exit %.1fs (%v), whole drain %.2f CPU-s  RSS idle %.1f MiB held %.1f MiB  %.2f KiB/conn\n",
		mode, n, win.Seconds(), settle.Seconds(), idleCPU, pct(idleCPU), heldCPU, pct(heldCPU), drainCPU, pct(drainCPU), pct(drainCPU)-pct(idleCPU),
		exitAfter.Seconds(), exitErr, whole, float64(rss0)/1024, float64(rss1)/1024, float64(rss1-rss0)/float64(n))
	return nil
}

// exchange sends req on c and reads its response.
func exchange(c net.Conn, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	return r.Body.Close()
}

func measure(pid int, win time.Duration) float64 {
	c0 := cpu(pid)
	time.Sleep(win)
	return float64(cpu(pid)-c0) / 100
}

// cpu returns utime+stime of pid in clock ticks (USER_HZ = 100).
func cpu(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
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
