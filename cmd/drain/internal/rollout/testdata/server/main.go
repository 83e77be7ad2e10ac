// Command server is the replica used by rollout's tests: a tiny HTTP server
// whose startup and SIGTERM behaviour are set by flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	port := flag.String("port", os.Getenv("PORT"), "port to listen on (127.0.0.1)")
	exitEarly := flag.Int("exit-early", -1, "exit at once with this code (>= 0)")
	neverReady := flag.Bool("never-ready", false, "answer /health with 503 forever")
	readyAfter := flag.Duration("ready-after", 0, "answer /health with 503 until this long after start")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	termDelay := flag.Duration("term-delay", 0, "after SIGTERM, keep serving this long before exiting")
	termCode := flag.Int("term-code", 0, "exit code after SIGTERM")
	unreadyOnTerm := flag.Bool("unready-on-term", false, "answer /health with 503 from SIGTERM on")
	child := flag.Bool("child", false, "start a child process (sleeper) in the same process group")
	sleeper := flag.Bool("sleeper", false, "ignore SIGTERM and sleep forever (the child)")
	flag.Parse()

	if *sleeper {
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	if *exitEarly >= 0 {
		fmt.Fprintln(os.Stderr, "server: exiting early on purpose")
		os.Exit(*exitEarly)
	}
	term := make(chan os.Signal, 1)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM) // term never receives
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if *child {
		c := exec.Command(os.Args[0], "-sleeper")
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "child %d\n", c.Process.Pid)
	}

	start := time.Now()
	var terminating atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if *neverReady || time.Since(start) < *readyAfter || *unreadyOnTerm && terminating.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from", *port)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+*port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "server: listening on", ln.Addr())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)

	<-term
	terminating.Store(true)
	fmt.Fprintln(os.Stderr, "server: SIGTERM")
	time.Sleep(*termDelay)
	srv.Shutdown(context.Background())
	os.Exit(*termCode)
}
