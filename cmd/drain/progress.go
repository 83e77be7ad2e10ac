package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often a run's status goes to a log that is not a
// terminal when its phase does not change.
const progressEvery = 5 * time.Second

// newProgress returns the Progress callback for a run's status lines
// (scenario calls it about every 200 ms) and the function that ends them.
// On a terminal each line replaces the one before. Elsewhere, such as a CI
// log, a line is printed, prefixed, when the phase changes (the words
// between the time and "sent": "restart 1/2", "steady") and otherwise at
// most every progressEvery, so that a log shows the run is alive without
// a line per 200 ms.
func newProgress(w io.Writer, prefix string) (progress func(string), end func()) {
	if isTerminal(w) {
		return func(line string) { fmt.Fprintf(w, "\r\033[K%s%s", prefix, line) },
			func() { fmt.Fprint(w, "\r\033[K") }
	}
	p := &logProgress{w: w, prefix: prefix, now: time.Now}
	return p.line, func() {}
}

// logProgress prints status lines to a log, rate-limited.
type logProgress struct {
	w      io.Writer
	prefix string
	now    func() time.Time

	mu    sync.Mutex
	phase string
	last  time.Time
}

func (p *logProgress) line(line string) {
	phase := progressPhase(line)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if phase == p.phase && !p.last.IsZero() && now.Sub(p.last) < progressEvery {
		return
	}
	p.phase, p.last = phase, now
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, strings.TrimSpace(line))
}

// progressPhase is the part of a status line that names the phase: the
// words after its first (the time) and before "sent".
func progressPhase(line string) string {
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
