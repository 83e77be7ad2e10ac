package child

import (
	"io"
	"sync"
)

// SerialWriter returns a writer that serializes writes to w: the output of
// several processes (or a process's and the drain's own lines) reaches one
// writer from several goroutines. It never fails: a process must not block
// or die because the writer of its output broke, so after an error from w
// the rest is discarded. A nil w discards everything.
func SerialWriter(w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &serialWriter{w: w}
}

type serialWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *serialWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(p); err != nil {
		s.w = io.Discard
	}
	return len(p), nil
}
