// Package hello is the background article's hello-rest service, with each
// shutdown strategy the comparisons need. It uses the drain library the way
// any user would.
package hello

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drainhttp/drain"
)

// Mode is a shutdown strategy.
type Mode string

const (
	// ModeDrain is the drain library with its defaults.
	ModeDrain Mode = "drain"
	// ModeImmediate is the drain library with drain.IdleImmediate.
	ModeImmediate Mode = "immediate"
	// ModeStdlib is exactly the background's Go example: on SIGTERM or
	// SIGINT, http.Server.Shutdown with a grace of twice the request delay.
	ModeStdlib Mode = "stdlib"
	// ModeNone installs no signal handler: the signal ends the process.
	ModeNone Mode = "none"
)

// Modes lists the modes in comparison order.
var Modes = []Mode{ModeDrain, ModeImmediate, ModeStdlib, ModeNone}

// ErrMode is returned for an unknown mode.
var ErrMode = errors.New("drain: unknown shutdown mode")

// ParseMode checks s against Modes.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w %q: use one of drain, immediate, stdlib, none", ErrMode, s)
}

// Config is the service's configuration.
type Config struct {
	Mode  Mode
	Delay time.Duration // every request's processing time
	// IdleTimeout is http.Server.IdleTimeout in ModeStdlib and ModeNone
	// (the drain modes set it from their keep-alive timeout); zero, as in
	// the background's example, means none.
	IdleTimeout time.Duration
	Drain       drain.Options // used by ModeDrain and ModeImmediate
	Log         *slog.Logger
	// TLS, if set, serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with it;
	// without, clear text: HTTP/1.1 and h2c with prior knowledge.
	TLS *tls.Config
}

// Handler returns the hello-rest routes; ready answers GET /health.
func Handler(delay time.Duration, ready http.Handler) http.Handler {
	mux := http.NewServeMux()
	hello := []byte("Hello, World!")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		sleep(r.Context(), delay)
		_, _ = w.Write(hello)
	})
	mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		sleep(r.Context(), delay)
		_, _ = w.Write(hello)
	})
	mux.Handle("GET /health", ready)
	return mux
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("ok\n"))
})

// Serve serves on ln until the mode's shutdown ends. ctx cancellation acts
// like SIGTERM for the drain modes.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	switch cfg.Mode {
	case ModeDrain, ModeImmediate:
		opts := cfg.Drain
		opts.Logger = log
		if cfg.Mode == ModeImmediate {
			opts.Idle = drain.IdleImmediate
		}
		d := drain.New(opts)
		srv := &http.Server{Handler: Handler(cfg.Delay, d.Ready()), Protocols: protocols(), TLSConfig: cfg.TLS}
		d.Add(srv, ln)
		return d.Run(ctx)
	case ModeStdlib:
		return serveStdlib(ln, cfg.Delay, cfg.IdleTimeout, cfg.TLS, log)
	case ModeNone:
		srv := &http.Server{Handler: Handler(cfg.Delay, okHandler), IdleTimeout: cfg.IdleTimeout, Protocols: protocols(), TLSConfig: cfg.TLS}
		return serve(srv, ln)
	}
	return fmt.Errorf("%w %q", ErrMode, cfg.Mode)
}

// serve is srv.Serve, or ServeTLS with srv.TLSConfig's certificate.
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// serveStdlib is the background's "production-ready" Go example, kept
// line for line (Serve on a listener instead of ListenAndServe; HTTP/2 and
// TLS as every mode serves them).
func serveStdlib(ln net.Listener, delay, idle time.Duration, tlsCfg *tls.Config, log *slog.Logger) error {
	server := &http.Server{Handler: Handler(delay, okHandler), IdleTimeout: idle, Protocols: protocols(), TLSConfig: tlsCfg}
	shutdownComplete := make(chan struct{})
	go func() {
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
		<-quit

		gracePeriod := 2 * delay
		ctx, cancel := context.WithTimeout(context.Background(), gracePeriod)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			log.Info("HTTP server Shutdown", "err", err)
		}
		close(shutdownComplete)
	}()

	if err := serve(server, ln); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("listen: %w", err)
	}
	<-shutdownComplete
	return nil
}
