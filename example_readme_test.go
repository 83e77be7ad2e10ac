package drain_test

import (
	"context"
	"database/sql"
	"log"
	"net/http"

	"github.com/drainhttp/drain"
)

// The README's quick start for net/http, as written there.
func Example_netHTTP() {
	mux := http.NewServeMux()
	d := drain.New(drain.Options{})  // zero Options: the lossless defaults
	mux.Handle("/readyz", d.Ready()) // readiness: 503 once draining (see Options.Ready)
	d.Add(&http.Server{Addr: ":8080", Handler: mux}, nil)
	if err := d.Run(context.Background()); err != nil { // serves; on SIGTERM/SIGINT drains, then returns
		log.Print(err) // nil: every request answered; ErrDeadline, ErrForced: see below
	}
}

// The README's Gin snippet, as written there. gin is not a dependency of
// the library: the stand-in below has the shape of the two calls the
// snippet makes (gin.Default() returns an http.Handler with GET;
// gin.WrapH adapts an http.Handler).
func Example_gin() {
	router := gin.Default()
	d := drain.New(drain.Options{})
	router.GET("/readyz", gin.WrapH(d.Ready()))
	d.Add(&http.Server{Addr: ":8080", Handler: router}, nil)
	if err := d.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// The README's cleanup step, as written there.
func Example_onShutdown() {
	var db *sql.DB // opened elsewhere
	d := drain.New(drain.Options{})
	d.OnShutdown("db", func(ctx context.Context) error { return db.Close() })
}

type ginEngine struct{ *http.ServeMux }

func (e ginEngine) GET(path string, h http.Handler) { e.Handle("GET "+path, h) }

var gin = struct {
	Default func() ginEngine
	WrapH   func(http.Handler) http.Handler
}{
	Default: func() ginEngine { return ginEngine{http.NewServeMux()} },
	WrapH:   func(h http.Handler) http.Handler { return h },
}
