// Command drain proves graceful shutdown by measurement: a reference
// hello-rest server, a rolling-restart simulator that counts every lost
// request, and a comparison across strategies and frameworks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// hello and exec handle their own signals (that is what they do).
	if len(os.Args) > 1 && (os.Args[1] == "hello" || os.Args[1] == "exec") {
		stop()
		ctx = context.Background()
	}
	// DRAIN_CPUPROFILE=FILE profiles any subcommand until it returns (for
	// the benchmarks in bench/; see docs/performance.md).
	if path := os.Getenv("DRAIN_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	err := exec(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	code := exitCode(err, os.Stderr)
	if code != 0 {
		pprof.StopCPUProfile()
		os.Exit(code)
	}
}

func exitCode(err error, stderr io.Writer) int {
	var u usageError
	var l lostError
	var c interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &c):
		// drain exec: the application's own status is what an orchestrator
		// must see.
		printError(stderr, err)
		return c.ExitCode()
	case errors.As(err, &u):
		printError(stderr, u.err)
		return 2
	case errors.As(err, &l):
		if l.Row != "" { // compare: the table shows the rows, not the limit
			printError(stderr, err)
		}
		return 1 // drain test: the report already said it
	default:
		printError(stderr, err)
		return 1
	}
}

// printError prints err as one "drain: ..." line; an error that already
// starts with "drain:" (the library's sentinel errors do) is not prefixed
// twice.
func printError(w io.Writer, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "drain:") {
		msg = "drain: " + msg
	}
	fmt.Fprintln(w, msg)
}
