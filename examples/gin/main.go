// Command gin is a Gin router drained by the library: a gin.Engine is an
// http.Handler, so it goes into an http.Server the Drainer runs (not
// engine.Run, which has no drain).
//
//	go run ./gin
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/drainhttp/drain"
	"github.com/gin-gonic/gin"
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
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })
	r.GET("/slow", func(c *gin.Context) {
		c.String(http.StatusOK, "start\n")
		c.Writer.Flush()
		select {
		case <-time.After(100 * time.Millisecond):
			c.Writer.WriteString("done\n")
		case <-c.Request.Context().Done():
		}
	})
	r.GET("/readyz", gin.WrapH(d.Ready()))
	r.GET("/livez", gin.WrapH(d.Live()))
	d.Add(&http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
