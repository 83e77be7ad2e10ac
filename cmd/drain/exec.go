package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/testrun"
)

// usageError marks bad input: exit status 2 (drain test and drain compare
// return testrun.UsageError, whose ExitCode is 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// lostError marks a run that lost more requests than allowed: exit status 1.
type lostError = testrun.LostError

const rootUsage = `usage: drain <command> [flags]

Commands:
  hello     the reference hello-rest server, with a choice of shutdown strategy
  test      start replicas of a server, put load on them, roll them, count every lost request
  compare   run test against several servers and strategies, one table
  exec      run a server in any language behind a proxy that drains it without loss
  report    render an earlier run's report again from its --results file
  version   print the versions of drain, its library and Go, and the commit it was built from

Run 'drain <command> -h' for a command's flags.
`

// exec runs one subcommand; main only maps its error to an exit status.
func exec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	// Progress lines, --during's output and the replicas' logs may write to
	// stderr at once: an *os.File takes concurrent writes, any other writer
	// (a test's buffer) gets a lock.
	if _, ok := stderr.(*os.File); !ok {
		stderr = child.SerialWriter(stderr)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, rootUsage)
		return usagef("no command given")
	}
	var run func(context.Context, []string, io.Reader, io.Writer, io.Writer) error
	switch args[0] {
	case "hello":
		run = runHello
	case "test":
		run = runTest
	case "compare":
		run = runCompare
	case "exec":
		run = runExec
	case "version", "--version":
		run = runVersion
	case "report":
		run = runReport
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, rootUsage)
		return nil
	default:
		fmt.Fprint(stderr, rootUsage)
		return usagef("unknown command %q", args[0])
	}
	err := run(ctx, args[1:], stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
