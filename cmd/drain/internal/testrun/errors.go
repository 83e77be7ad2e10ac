// Package testrun is drain test and drain compare below their flags: it
// checks the options (before any work starts), runs the scenario or the
// comparison, writes the reports, and returns the verdict as an error whose
// type names the exit status (UsageError 2, LostError 1, InterruptedError
// 130). The command (cmd/drain) only turns flags into a Config and an error
// into an exit status.
package testrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UsageError marks bad input, found before any work started: exit status 2.
type UsageError struct{ Err error }

// Error is Err's message.
func (u UsageError) Error() string { return u.Err.Error() }

// Unwrap returns Err.
func (u UsageError) Unwrap() error { return u.Err }

// ExitCode is 2, the CLI's status for bad usage.
func (UsageError) ExitCode() int { return 2 }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// plainUsage is a UsageError whose message drops the sentinel's "drain: "
// prefix (the command adds its own).
func plainUsage(err error) error {
	return UsageError{errors.New(strings.TrimPrefix(err.Error(), "drain: "))}
}

// LostError marks a run that lost more requests than allowed: exit status
// 1. For drain compare, Row names the row that lost most and Rows counts
// the rows over the limit; for drain test Row is empty (the report printed
// already says what was lost).
type LostError struct {
	Lost, Allowed int
	Row           string
	Rows          int
}

// Error says how many requests were lost against the limit (and, for
// drain compare, which row lost most).
func (l LostError) Error() string {
	if l.Row != "" {
		return fmt.Sprintf("%d rows lost more than %d requests, %s most: %d", l.Rows, l.Allowed, l.Row, l.Lost)
	}
	return fmt.Sprintf("%d requests lost (allowed %d)", l.Lost, l.Allowed)
}

// ExitInterrupted is drain test's exit status when Ctrl-C (SIGINT) or
// SIGTERM ended the run: the report printed is partial. 130 is the shell's
// status for a command ended by SIGINT.
const ExitInterrupted = 130

// InterruptedError ends an interrupted run with ExitInterrupted; At is when,
// from the run's start.
type InterruptedError struct{ At time.Duration }

// Error says when the run was interrupted and that its report is partial.
func (e InterruptedError) Error() string {
	return fmt.Sprintf("interrupted at %.3fs: the report above is partial (what happened before), replicas stopped by drain itself are not counted", e.At.Seconds())
}

// ExitCode is ExitInterrupted.
func (InterruptedError) ExitCode() int { return ExitInterrupted }

// Unwrap says why the run ended: its context was cancelled.
func (InterruptedError) Unwrap() error { return context.Canceled }
