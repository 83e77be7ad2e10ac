// Command echo is an Echo app drained by the library: *echo.Echo is an
// http.Handler, so the Drainer runs an http.Server serving it (instead of
// e.Start and e.Shutdown, which close the listener at once).
//
//	go run ./echo
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/drainhttp/drain"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "hello\n") })
	e.GET("/slow", func(c echo.Context) error {
		w := c.Response()
		w.Header().Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("start\n"))
		w.Flush()
		select {
		case <-time.After(100 * time.Millisecond):
			_, err := w.Write([]byte("done\n"))
			return err
		case <-c.Request().Context().Done():
			return nil
		}
	})
	e.GET("/readyz", echo.WrapHandler(d.Ready()))
	e.GET("/livez", echo.WrapHandler(d.Live()))
	d.Add(&http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}, ln)
	return d.Run(ctx)
}

func port() string {
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}
