//go:build unix

package child

import (
	"io"
	"os"
	"sync"
	"time"
)

// stdio is a child's standard files and the copying of its output. The
// pipes are child's own, not os/exec's, so that the output is copied the
// same way whoever reaps the child (Cmd.Wait, or ReapAll's wait4 loop,
// which never calls Cmd.Wait).
type stdio struct {
	files   [3]*os.File // the child's stdin, stdout, stderr; nil: /dev/null
	writers []*os.File  // the pipes' write ends: this process closes them once the child started
	readers []*os.File  // the pipes' read ends: closed once copied, or OutputWait after the reap
	copied  sync.WaitGroup
}

// openStdio makes the child's standard files from cfg and starts copying
// what it writes to pipes.
func openStdio(cfg Config) (*stdio, error) {
	s := &stdio{}
	if f, ok := cfg.Stdin.(*os.File); ok && f != nil {
		s.files[0] = f
	}
	for i, w := range []io.Writer{cfg.Stdout, cfg.Stderr} {
		f, isFile := w.(*os.File)
		switch {
		case w == nil || w == io.Discard || (isFile && f == nil):
		case isFile:
			s.files[i+1] = f
		case i == 1 && s.files[1] != nil && sameWriter(cfg.Stdout, cfg.Stderr):
			s.files[2] = s.files[1] // one pipe, one goroutine writing
		default:
			r, pw, err := os.Pipe()
			if err != nil {
				s.abort()
				return nil, err
			}
			s.files[i+1] = pw
			s.writers = append(s.writers, pw)
			s.readers = append(s.readers, r)
			s.copied.Add(1)
			go func() {
				defer s.copied.Done()
				_, _ = io.Copy(w, r) // ends at EOF, or when wait closes r
			}()
		}
	}
	return s, nil
}

// sameWriter reports whether a and b are the same writer (os/exec's rule:
// equal interface values, false for an incomparable type).
func sameWriter(a, b io.Writer) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// started closes this process's write ends: the output ends (EOF) when
// the child and whatever inherited them have closed theirs.
func (s *stdio) started() {
	for _, f := range s.writers {
		f.Close()
	}
}

// abort undoes openStdio when the child did not start.
func (s *stdio) abort() {
	s.started()
	s.copied.Wait()
	for _, r := range s.readers {
		r.Close()
	}
}

// wait waits until the output is copied to its end, at most OutputWait,
// then closes the pipes (a process still holding one gets EPIPE), as
// os/exec's WaitDelay does. Call it once the child is reaped.
func (s *stdio) wait() {
	if len(s.readers) == 0 {
		return
	}
	done := make(chan struct{})
	go func() { s.copied.Wait(); close(done) }()
	t := time.NewTimer(OutputWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		for _, r := range s.readers {
			r.Close() // ends the copy's Read
		}
		<-done
	}
	for _, r := range s.readers {
		r.Close()
	}
}
