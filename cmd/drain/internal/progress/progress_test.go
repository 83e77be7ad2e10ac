package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestLogLines: without a terminal, status lines reach the log when the
// phase changes and at most every Every otherwise.
func TestLogLines(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &logLines{w: &b, prefix: "test: ", now: func() time.Time { return now }}
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
	if got := Phase(" 12.0s  steady  sent 5 ok 5 lost 0"); got != "steady" {
		t.Errorf("phase %q, want steady", got)
	}
}
