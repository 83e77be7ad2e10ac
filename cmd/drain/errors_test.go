package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/testrun"
)

// TestFlagErrorOneLine: a bad flag is one line naming it with two dashes
// and pointing to -h, not the whole help; an error that already says
// "drain:" is not prefixed twice.
func TestFlagErrorOneLine(t *testing.T) {
	for _, args := range [][]string{{"test", "--bogus"}, {"compare", "--rate", "fast"}, {"hello", "--nope"}} {
		_, stderr, code := run(t, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(stderr, " --") || !strings.Contains(stderr, "-h lists the flags") {
			t.Errorf("%v: exit %d, stderr %d lines:\n%s\nwant exit 2 and one line naming the --flag and -h", args, code, len(lines), stderr)
		}
	}
	var b bytes.Buffer
	printError(&b, errors.New("drain: server closed"))
	printError(&b, errors.New("rollout: no command"))
	if got, want := b.String(), "drain: server closed\ndrain: rollout: no command\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

// TestCompareAllowLost: with --allow-lost N, a measured row that lost more
// than N is exit status 1 naming the worst row; rows not measured do not
// count; -1 sets no limit.
func TestCompareAllowLost(t *testing.T) {
	rows := []report.Row{
		{Server: "drain hello", Strategy: "drain", Verdict: report.Lossless},
		{Server: "drain hello", Strategy: "immediate", Verdict: report.Lossy, Lost: 12},
		{Server: "drain hello", Strategy: "none", Verdict: report.Lossy, Lost: 40},
		{Server: "express", Strategy: "x", Verdict: report.NotInstalled, Lost: 99},
	}
	if err := testrun.CheckRows(rows, -1); err != nil {
		t.Errorf("no limit: %v", err)
	}
	if err := testrun.CheckRows(rows, 40); err != nil {
		t.Errorf("limit 40: %v", err)
	}
	err := testrun.CheckRows(rows, 10)
	var l lostError
	if !errors.As(err, &l) || exitCode(err, io.Discard) != 1 || !strings.Contains(err.Error(), "2 rows lost more than 10 requests, drain hello none most: 40") {
		t.Errorf("limit 10: %v, want exit 1 naming 2 rows and drain hello none", err)
	}
}
