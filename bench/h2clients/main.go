// Command h2clients measures what real HTTP/2 clients lose when the server
// they are connected to drains (issue 14: x/net/http2's Transport with a body
// it cannot re-send, Node's http2 module, curl). It models one rollout step
// the way kube-proxy makes it:
//
//   - an old server (the library with a 5 s lame duck, or net/http's
//     Shutdown: -shutdown) and a new one (the library) run as real
//     processes (h2clients itself with -serve), counting the handlers run;
//   - the client dials a front relay, which splices each new connection to
//     the old server until SIGTERM + -propagation, then to the new one
//     (kube-proxy's rules changing), with -delay one-way latency each way;
//   - SIGTERM goes to the old server at -sigterm; the client keeps sending
//     at -rate over -conns connections and opens new connections as its own
//     library decides (after a GOAWAY, after a close).
//
// Each client prints one line per request outcome class at its end
// ("ok 4980", "REFUSED_STREAM 3", ...); h2clients adds the old server's exit
// time and prints one summary line. Nothing is retried by the harness: a
// client library's own retry is part of what is measured.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	var c config
	flag.StringVar(&c.client, "client", "go", "go (x/net/http2 Transport), node (http2 module) or curl")
	flag.StringVar(&c.mode, "shutdown", "drain", "the old server's --shutdown (drain, stdlib, ...)")
	flag.BoolVar(&c.tls, "tls", false, "HTTPS with HTTP/2 by ALPN instead of h2c")
	flag.IntVar(&c.rate, "rate", 1000, "requests per second, all connections together")
	flag.IntVar(&c.conns, "conns", 4, "connections the client keeps")
	flag.DurationVar(&c.duration, "duration", 9*time.Second, "how long the client sends")
	flag.DurationVar(&c.sigterm, "sigterm", 2*time.Second, "SIGTERM to the old server this long after the client starts")
	flag.DurationVar(&c.propagation, "propagation", 300*time.Millisecond, "new connections still reach the old server this long after SIGTERM")
	flag.DurationVar(&c.delay, "delay", 0, "one-way latency the relay adds in each direction")
	serveAddr := flag.String("serve", "", "internal: be the server on this address (-shutdown, -tls)")
	flag.Parse()
	if *serveAddr != "" {
		if err := serve(*serveAddr, c.mode, c.tls); err != nil {
			fmt.Fprintln(os.Stderr, "h2clients -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "h2clients:", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "h2clients:", err)
		os.Exit(1)
	}
}

type config struct {
	client, mode                   string
	tls                            bool
	rate, conns                    int
	duration, sigterm, propagation time.Duration
	delay                          time.Duration
}

func (c config) check() error {
	switch c.client {
	case "go", "node", "curl":
	default:
		return fmt.Errorf("-client %q: want go, node or curl", c.client)
	}
	if c.rate <= 0 || c.conns <= 0 || c.duration <= 0 {
		return errors.New("-rate, -conns and -duration must be positive")
	}
	if c.sigterm >= c.duration {
		return fmt.Errorf("-sigterm %v must come before the end of -duration %v", c.sigterm, c.duration)
	}
	if c.client == "curl" && c.rate%c.conns != 0 {
		return fmt.Errorf("-client curl: -rate %d must be a multiple of -conns %d (one paced curl per connection)", c.rate, c.conns)
	}
	return nil
}

func run(c config) error {
	oldAddr, newAddr := freeAddr(), freeAddr()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	server := func(addr, mode string) *exec.Cmd {
		a := []string{"-serve", addr, "-shutdown", mode}
		if c.tls {
			a = append(a, "-tls")
		}
		return exec.Command(self, a...)
	}
	oldSrv, newSrv := server(oldAddr, c.mode), server(newAddr, "drain")
	var oldOut, newOut strings.Builder
	oldSrv.Stdout, newSrv.Stdout = &oldOut, &newOut
	for _, s := range []*exec.Cmd{oldSrv, newSrv} {
		s.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		s.Stderr = os.Stderr
		if err := s.Start(); err != nil {
			return err
		}
		defer s.Process.Kill()
	}
	oldExit := make(chan time.Time, 1)
	go func() { oldSrv.Wait(); oldExit <- time.Now() }()
	newExit := make(chan struct{})
	go func() { newSrv.Wait(); close(newExit) }()
	for _, a := range []string{oldAddr, newAddr} {
		if err := waitListening(a); err != nil {
			return err
		}
	}

	var switched atomic.Bool
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer front.Close()
	go relay(front, c.delay, func() string {
		if switched.Load() {
			return newAddr
		}
		return oldAddr
	})

	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	url := scheme + "://" + front.Addr().String() + "/"
	start := time.Now()
	var lines []string
	var clientErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines, clientErr = runClient(c, url)
	}()
	time.Sleep(c.sigterm)
	sigterm := time.Now()
	oldSrv.Process.Signal(syscall.SIGTERM)
	time.Sleep(c.propagation)
	switched.Store(true)
	<-done
	if clientErr != nil {
		return clientErr
	}
	exitAfter := "did not exit"
	select {
	case t := <-oldExit:
		exitAfter = t.Sub(sigterm).Round(time.Millisecond).String()
	case <-time.After(30 * time.Second):
	}
	newSrv.Process.Signal(syscall.SIGTERM)
	<-newExit
	var servedOld, servedNew int
	fmt.Sscanf(oldOut.String(), "served %d", &servedOld)
	fmt.Sscanf(newOut.String(), "served %d", &servedNew)
	counts := map[string]int{}
	for _, l := range lines {
		var k string
		var n int
		if _, err := fmt.Sscanf(l, "%s %d", &k, &n); err == nil {
			counts[k] += n
		}
	}
	keys := make([]string, 0, len(counts))
	sent := 0
	for k, n := range counts {
		keys = append(keys, k)
		sent += n
	}
	sort.Strings(keys)
	var b strings.Builder
	proto := "h2c"
	if c.tls {
		proto = "h2"
	}
	fmt.Fprintf(&b, "client %s %s shutdown %s rate %d conns %d delay %v: sent %d lost %d (", c.client, proto, c.mode, c.rate, c.conns, c.delay, sent, sent-counts["ok"])
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, counts[k])
	}
	fmt.Fprintf(&b, "); servers ran %d handlers (old %d, new %d); old server exited %s after SIGTERM; ran %s", servedOld+servedNew, servedOld, servedNew, exitAfter, time.Since(start).Round(time.Millisecond))
	fmt.Println(b.String())
	return nil
}

func runClient(c config, url string) ([]string, error) {
	switch c.client {
	case "node":
		js := filepath.Join(filepath.Dir(must(os.Executable())), "client.js")
		if _, err := os.Stat(js); err != nil {
			js = "bench/h2clients/client.js"
		}
		out, err := exec.Command("node", js, url, fmt.Sprint(c.rate), fmt.Sprint(c.conns), fmt.Sprint(c.duration.Milliseconds())).Output()
		return strings.Split(strings.TrimSpace(string(out)), "\n"), err
	case "curl":
		return curlClient(c, url)
	}
	return goClient(c, url)
}

// curlClient runs one curl per connection, each sending its share of the
// rate with --rate over one reused connection (curl multiplexes only in
// --parallel mode, which cannot be paced).
func curlClient(c config, url string) ([]string, error) {
	per := c.rate / c.conns
	n := per * int(c.duration/time.Second)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	var firstErr error
	for range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg, err := os.CreateTemp("", "h2clients-curl-*.cfg")
			if err != nil {
				firstErr = err
				return
			}
			defer os.Remove(cfg.Name())
			w := bufio.NewWriter(cfg)
			for range n {
				fmt.Fprintf(w, "url = %q\n", url)
			}
			w.Flush()
			cfg.Close()
			a := []string{"-s", "-K", cfg.Name(), "-d", "x", "--rate", fmt.Sprintf("%d/s", per), "-w", `\n@@ %{http_code} %{exitcode} %{errormsg}\n`}
			if strings.HasPrefix(url, "https") {
				a = append(a, "-k", "--http2")
			} else {
				a = append(a, "--http2-prior-knowledge")
			}
			out, _ := exec.Command("curl", a...).Output()
			mu.Lock()
			defer mu.Unlock()
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) < 3 || f[0] != "@@" {
					continue
				}
				switch {
				case f[1] == "200":
					counts["ok"]++
				case f[2] != "0":
					counts["curl_exit_"+f[2]]++
				default:
					counts["status_"+f[1]]++
				}
			}
		}()
	}
	wg.Wait()
	var lines []string
	for k, v := range counts {
		lines = append(lines, fmt.Sprintf("%s %d", k, v))
	}
	return lines, firstErr
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string) error {
	for range 500 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after 5 s", addr)
}

// relay splices each accepted connection to the address pick returns at
// accept time, delaying every chunk by delay in each direction.
func relay(ln net.Listener, delay time.Duration, pick func() string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			s, err := net.Dial("tcp", pick())
			if err != nil {
				c.Close()
				return
			}
			go pipe(s, c, delay)
			pipe(c, s, delay)
		}()
	}
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk written delay after it was read; src's
// EOF becomes dst's write close, an error closes both.
func pipe(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					q <- chunk{nil, time.Now().Add(delay)}
				}
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.at))
		if ch.b == nil {
			dst.Close()
			src.Close()
			return
		}
		if _, err := dst.Write(ch.b); err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
