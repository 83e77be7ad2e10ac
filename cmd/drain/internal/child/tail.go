package child

import (
	"bytes"
	"strings"
	"sync"
)

// Tail keeps the last lines written to it, for an error message that
// shows what a process said before it failed (a replica's or a router's
// stderr). Its zero value keeps 10 lines; it is safe for concurrent use.
type Tail struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
}

const tailLines = 10

// Write keeps b's lines (an unfinished one up to 4 KiB). It never fails.
func (t *Tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.part = append(t.part, b...)
			if len(t.part) > 4096 {
				t.part = t.part[len(t.part)-4096:]
			}
			break
		}
		line := append(t.part, b[:i]...)
		t.part = nil
		t.lines = append(t.lines, line)
		if len(t.lines) > tailLines {
			t.lines = t.lines[1:]
		}
		b = b[i+1:]
	}
	return n, nil
}

// String returns the kept lines, the unfinished one last.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sb strings.Builder
	for _, l := range t.lines {
		sb.Write(l)
		sb.WriteByte('\n')
	}
	if len(t.part) > 0 {
		sb.Write(t.part)
		sb.WriteByte('\n')
	}
	return strings.TrimRight(sb.String(), "\n")
}
