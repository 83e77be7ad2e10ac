// Command errgroup runs the Drainer in an errgroup next to a signal
// context and a background worker: the first to fail, or a signal, cancels
// the group's context, and the Drainer drains on that cancellation.
//
//	go run ./errgroup
package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drainhttp/drain"
	"golang.org/x/sync/errgroup"
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The context carries the signals: the Drainer listens to none.
	if err := run(ctx, ln, drain.New(drain.Options{Signals: []os.Signal{}})); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled or a member of the group fails.
func run(ctx context.Context, ln net.Listener, d *drain.Drainer) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("GET /slow", slow)
	mux.Handle("GET /readyz", d.Ready())
	mux.Handle("GET /livez", d.Live())
	d.Add(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)

	g, gctx := errgroup.WithContext(ctx)
	// Run drains when gctx is cancelled: by the signal, or by another
	// member's error. Its own error (a listener that failed) cancels the rest.
	g.Go(func() error { return d.Run(gctx) })
	g.Go(func() error {
		// A background worker: stops taking jobs once the drain begins.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-d.Draining():
				return nil
			case <-tick.C:
				_, release := d.Hold() // the drain waits for the current job
				time.Sleep(5 * time.Millisecond)
				release()
			}
		}
	})
	return g.Wait()
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
