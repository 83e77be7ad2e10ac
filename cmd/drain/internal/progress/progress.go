// Package progress prints a long run's status lines: on a terminal each
// line replaces the one before; in a log (CI) a line is printed when the
// run's phase changes and otherwise at most every Every, so a log shows
// the run is alive without a line per status update.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Every is how often a run's status goes to a log that is not a terminal
// when its phase does not change.
const Every = 5 * time.Second

// New returns the callback for a run's status lines (scenario calls it
// about every 200 ms) and the function that ends them. On a terminal each
// line replaces the one before. Elsewhere, such as a CI log, a line is
// printed, prefixed, when the phase changes (the words between the time
// and "sent": "restart 1/2", "steady") and otherwise at most every Every.
// The callback is safe for concurrent use when w is.
func New(w io.Writer, prefix string) (line func(string), end func()) {
	if IsTerminal(w) {
		return func(line string) { fmt.Fprintf(w, "\r\033[K%s%s", prefix, line) },
			func() { fmt.Fprint(w, "\r\033[K") }
	}
	p := &logLines{w: w, prefix: prefix, now: time.Now}
	return p.line, func() {}
}

// IsTerminal reports whether w is a terminal (a character device), where
// status lines may overwrite each other.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ETA is the "  (~1m20s left)" suffix after done of total equal steps that
// began at started; empty before the first step is done.
func ETA(started time.Time, done, total int) string {
	if done == 0 {
		return ""
	}
	per := time.Since(started) / time.Duration(done)
	return fmt.Sprintf("  (~%s left)", (per * time.Duration(total-done)).Round(time.Second))
}

// logLines prints status lines to a log, rate-limited.
type logLines struct {
	w      io.Writer
	prefix string
	now    func() time.Time

	mu    sync.Mutex
	phase string
	last  time.Time
}

func (p *logLines) line(line string) {
	phase := Phase(line)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if phase == p.phase && !p.last.IsZero() && now.Sub(p.last) < Every {
		return
	}
	p.phase, p.last = phase, now
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, strings.TrimSpace(line))
}

// Phase is the part of a status line that names the phase: the words
// after its first (the time) and before "sent".
func Phase(line string) string {
	f := strings.Fields(line)
	var out []string
	for i, w := range f {
		if w == "sent" {
			break
		}
		if i > 0 {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}
