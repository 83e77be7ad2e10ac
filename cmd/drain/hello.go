package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/drainhttp/drain"
	"github.com/drainhttp/drain/cmd/drain/internal/hello"
)

const helloUsage = `
usage: drain hello [flags]

The hello-rest service of the article this project answers ("Zero
downtime shutdown for REST APIs", Anders Qvist, 2025): GET / and POST / answer
"Hello, World!" after the request delay; GET /health is readiness (503 while
draining in the drain modes, at once or once the lame duck ends: --ready). --shutdown picks what happens on SIGTERM:
  drain      the drain library with its defaults
  immediate  the library with the immediate hang-up idle policy
  stdlib     http.Server.Shutdown with a grace of twice the delay (that article's Go example)
  none       no handler: the signal ends the process

Flags:
`

func runHello(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("hello", helloUsage, stderr)
	defAddr := "127.0.0.1:8080"
	if p := os.Getenv("PORT"); p != "" {
		defAddr = net.JoinHostPort("127.0.0.1", p)
	}
	defDelay := 0.0
	if v := os.Getenv("HELLO_REST_REQUEST_DELAY"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return usagef("HELLO_REST_REQUEST_DELAY=%q: want a non-negative number of seconds", v)
		}
		defDelay = f
	}
	addr := fs.String("addr", defAddr, "listen address (default from $PORT)")
	delay := fs.Float64("delay", defDelay, "seconds each request takes (default from $HELLO_REST_REQUEST_DELAY)")
	mode := fs.String("shutdown", "drain", "shutdown strategy: drain, immediate, stdlib or none")
	lameDuck := fs.Duration("lame-duck", 0, "drain modes: propagation delay (0: the library default, "+drain.DefaultKubernetesDelay.String()+" in Kubernetes, else none; negative: none)")
	readyFlag := fs.String("ready", drain.ReadyAuto.String(), "drain modes: when GET /health turns 503: auto (through-delay in Kubernetes, else until-drain), until-drain (from the first moment of the drain) or through-delay (once the lame duck ends; keeps kube-proxy's fallback to serving terminating pods)")
	keepAlive := fs.Duration("keepalive", 0, "drain modes: keep-alive timeout (0: "+drain.DefaultKeepAlive.String()+")")
	deadline := fs.Duration("deadline", 0, "drain modes: handler deadline (0: "+drain.DefaultDeadline.String()+")")
	quiet := fs.Duration("quiet", 0, "drain modes: end the propagation delay after this long without a new connection (0: never)")
	idleTimeout := fs.Duration("idle-timeout", 0, "stdlib and none modes: http.Server.IdleTimeout (0: none, as in the article's Go example)")
	verbose := fs.Bool("v", false, "log each drain phase to stderr")
	useTLS := fs.Bool("tls", false, "serve HTTPS (HTTP/1.1 and HTTP/2) with a new self-signed certificate for localhost, 127.0.0.1 and ::1 (without: clear text, HTTP/1.1 and h2c)")
	certOut := fs.String("tls-cert", "", "with --tls: also write the certificate (PEM) to this file, for clients to trust (drain test --ca FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("hello takes no arguments, got %q", fs.Args())
	}
	m, err := hello.ParseMode(*mode)
	if err != nil {
		return usageError{err}
	}
	if *delay < 0 {
		return usagef("--delay %v: want a non-negative number of seconds", *delay)
	}
	var ready drain.ReadyPolicy
	if ready.UnmarshalText([]byte(*readyFlag)) != nil {
		return usagef("--ready %q: use auto, until-drain or through-delay", *readyFlag)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var tlsCfg *tls.Config
	scheme := "http"
	if *certOut != "" && !*useTLS {
		return usagef("--tls-cert needs --tls")
	}
	if *useTLS {
		var certPEM []byte
		if tlsCfg, certPEM, err = hello.SelfSigned(); err != nil {
			return err
		}
		if *certOut != "" {
			if err := os.WriteFile(*certOut, certPEM, 0o644); err != nil {
				return usagef("--tls-cert: %v", err)
			}
		}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("hello: %w (is another server on that port? pick one with --addr or $PORT)", err)
	}
	fmt.Fprintf(stdout, "hello-rest listening on %s://%s (shutdown=%s)\n", scheme, ln.Addr(), m)
	err = hello.Serve(ctx, ln, hello.Config{
		Mode:        m,
		Delay:       time.Duration(*delay * float64(time.Second)),
		IdleTimeout: *idleTimeout,
		Log:         log,
		TLS:         tlsCfg,
		Drain:       drain.Options{Delay: *lameDuck, Ready: ready, KeepAlive: *keepAlive, Deadline: *deadline, Quiet: *quiet},
	})
	if errors.Is(err, drain.ErrDeadline) || errors.Is(err, drain.ErrForced) {
		log.Warn("drain ended early", "err", err)
		return fmt.Errorf("hello: %w", err)
	}
	return err
}
