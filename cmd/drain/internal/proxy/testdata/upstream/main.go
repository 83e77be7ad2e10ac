// Command upstream is the application the drain exec tests run behind the
// proxy. It listens on 127.0.0.1:$PORT.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	exitNow := flag.Int("exit-now", -1, "exit at once with this status")
	termExit := flag.Int("term-exit", 0, "exit with this status on SIGTERM")
	neverReady := flag.Bool("never-ready", false, "/health answers 503 forever")
	pidfile := flag.String("pidfile", "", "write the pid here")
	orphan := flag.Bool("orphan", false, "leave an orphaned grandchild that exits soon")
	flag.Parse()
	if *pidfile != "" {
		os.WriteFile(*pidfile, []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	if *exitNow >= 0 {
		os.Exit(*exitNow)
	}
	var mu sync.Mutex
	var got []string
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM {
				os.Exit(*termExit) // the bad server: no drain at all
			}
			mu.Lock()
			got = append(got, s.String())
			mu.Unlock()
		}
	}()
	orphanPid := ""
	if *orphan {
		out, err := exec.Command("sh", "-c", "sleep 0.3 >/dev/null 2>&1 & echo $!").Output()
		if err != nil {
			panic(err)
		}
		orphanPid = strings.TrimSpace(string(out))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if *neverReady {
			http.Error(w, "never", 503)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ms, _ := strconv.Atoi(r.URL.Query().Get("ms")); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		fmt.Fprint(w, "hello")
	})
	mux.HandleFunc("/signals", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, strings.Join(got, ","))
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, orphanPid) })
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.Serve(ln, mux)
}
