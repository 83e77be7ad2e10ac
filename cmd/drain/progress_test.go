package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/report"
)

// TestLogProgress: without a terminal, status lines reach the log when the
// phase changes and at most every progressEvery otherwise.
func TestLogProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &logProgress{w: &b, prefix: "test: ", now: func() time.Time { return now }}
	feed := func(sec float64, line string) {
		now = time.Unix(0, 0).Add(time.Duration(sec * float64(time.Second)))
		p.line(line)
	}
	feed(0.2, "  0.2s  restart 0/2  sent 100/9000  ok 100  lost 0")
	feed(0.4, "  0.4s  restart 0/2  sent 200/9000  ok 200  lost 0") // same phase, too soon
	feed(1.2, "  1.2s  restart 1/2  sent 600/9000  ok 600  lost 0") // new phase
	feed(6.0, "  6.0s  restart 1/2  sent 3000/9000  ok 2990  lost 10")
	feed(6.5, "  6.5s  restart 1/2  sent 3250/9000  ok 3240  lost 10") // 5.3 s since the last: printed
	feed(7.0, "  7.0s  restart 1/2  sent 3500/9000  ok 3490  lost 10")
	want := []string{
		"test: 0.2s  restart 0/2  sent 100/9000  ok 100  lost 0",
		"test: 1.2s  restart 1/2  sent 600/9000  ok 600  lost 0",
		"test: 6.5s  restart 1/2  sent 3250/9000  ok 3240  lost 10",
	}
	if got := strings.Split(strings.TrimSpace(b.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
	if got := progressPhase(" 12.0s  steady  sent 5 ok 5 lost 0"); got != "steady" {
		t.Errorf("phase %q, want steady", got)
	}
}

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
	if err := checkRows(rows, -1); err != nil {
		t.Errorf("no limit: %v", err)
	}
	if err := checkRows(rows, 40); err != nil {
		t.Errorf("limit 40: %v", err)
	}
	err := checkRows(rows, 10)
	var l lostError
	if !errors.As(err, &l) || exitCode(err, io.Discard) != 1 || !strings.Contains(err.Error(), "2 rows lost more than 10 requests, drain hello none most: 40") {
		t.Errorf("limit 10: %v, want exit 1 naming 2 rows and drain hello none", err)
	}
}
