// Command oklogrun runs the Drainer as one actor of an oklog/run group,
// next to a signal handler and a background worker: when any actor ends,
// the group interrupts the others, and the Drainer's interrupt is a drain
// (not a hard stop), so in-flight requests finish.
//
//	go run ./oklogrun
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/drainhttp/drain"
	oklog "github.com/oklog/run"
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	// The group owns the signals: the Drainer listens to none.
	d := drain.New(drain.Options{Signals: []os.Signal{}})
	if err := run(context.Background(), ln, d); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, a signal arrives or an actor fails.
func run(ctx context.Context, ln net.Listener, d *drain.Drainer) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("GET /slow", slow)
	mux.Handle("GET /readyz", d.Ready())
	mux.Handle("GET /livez", d.Live())
	d.Add(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)

	var g oklog.Group
	// Signals (and ctx): ends the group, which interrupts the others.
	g.Add(oklog.SignalHandler(ctx, syscall.SIGTERM, syscall.SIGINT))
	// The HTTP servers: interrupt begins the drain; execute returns when
	// it has finished. The group calls every interrupt once, this one also
	// after Run returned (harmless: Stop is safe then). Nothing else may
	// call d.Stop: a second Stop during the drain forces it.
	g.Add(func() error { return d.Run(context.Background()) }, func(error) { d.Stop() })
	// A background worker that must not be cut off mid-job: it holds the
	// drain open until its current job is done.
	stopWorker := make(chan struct{})
	g.Add(func() error { worker(d, stopWorker); return nil }, func(error) { close(stopWorker) })

	err := g.Run()
	var sig oklog.SignalError
	if errors.As(err, &sig) || errors.Is(err, context.Canceled) {
		return nil // the normal way to stop
	}
	return err
}

// worker does a job every 50 ms until interrupted; each job holds the
// drain open until done. It must not return on its own when the drain
// begins: its return would end the group and interrupt the Drainer, whose
// interrupt (a second Stop) would then force the drain.
func worker(d *drain.Drainer, stop <-chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			_, release := d.Hold()
			time.Sleep(5 * time.Millisecond) // the job
			release()
		}
	}
}

// slow stands for real work: it answers in two parts, 100 ms apart.
func slow(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "start\n")
	http.NewResponseController(w).Flush()
	select {
	case <-time.After(100 * time.Millisecond):
		io.WriteString(w, "done\n")
	case <-r.Context().Done():
	}
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
