// Command nethttp is a net/http server drained by the library: the whole
// change is mounting the readiness handler and letting a Drainer run the
// server.
//
//	go run ./nethttp              # PORT=8080 by default
//	drain test --ready-path /readyz -- go run ./nethttp   # measure it
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
)

func main() {
	ln, err := net.Listen("tcp", ":"+port())
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	// Options{}: SIGTERM and SIGINT start the drain; in a pod
	// (KUBERNETES_SERVICE_HOST set) a 5 s lame duck lets the endpoint
	// removal reach every node before the listener closes.
	if err := run(context.Background(), ln, drain.New(drain.Options{})); err != nil {
		slog.Error("drain", "err", err)
		os.Exit(1)
	}
}

// run serves on ln until d's drain ends (a signal, d.Stop or ctx).
func run(ctx context.Context, ln net.Listener, d *drain.Drainer) error {
	mux := http.NewServeMux()
	// Any method: drain test sends GET and POST (with a body) to /.
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("GET /slow", slow)
	mux.Handle("GET /readyz", d.Ready()) // 503 once the drain begins
	mux.Handle("GET /livez", d.Live())
	d.Add(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

// slow stands for real work: it answers in two parts, 100 ms apart.
func slow(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "start\n")
	http.NewResponseController(w).Flush()
	select {
	case <-time.After(100 * time.Millisecond):
		io.WriteString(w, "done\n")
	case <-r.Context().Done(): // the drain's deadline, or the client left
	}
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
