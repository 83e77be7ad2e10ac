// Command chi is a chi router drained by the library: chi.Mux is an
// http.Handler; the Drainer runs the http.Server that serves it.
//
//	go run ./chi
package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/drainhttp/drain"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	if err := run(context.Background(), ln, drain.New(drain.Options{})); err != nil {
		slog.Error("drain", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ln net.Listener, d *drain.Drainer) error {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	r.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start\n")
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(100 * time.Millisecond):
			io.WriteString(w, "done\n")
		case <-r.Context().Done():
		}
	})
	r.Method(http.MethodGet, "/readyz", d.Ready())
	r.Method(http.MethodGet, "/livez", d.Live())
	d.Add(&http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
