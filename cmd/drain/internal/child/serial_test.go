package child

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

// failAfter accepts n writes, then fails every one.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("broken")
	}
	f.n--
	return f.buf.Write(p)
}

// TestSerialWriter: concurrent writers (the race detector watches) get
// whole lines through; after the writer breaks, writes still succeed and
// the rest is discarded, so no process blocks or dies on its output.
func TestSerialWriter(t *testing.T) {
	f := &failAfter{n: 200}
	w := SerialWriter(f)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if n, err := w.Write([]byte("line\n")); n != 5 || err != nil {
					t.Errorf("Write: %d, %v; want 5, nil", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := strings.Count(f.buf.String(), "line\n"); got != 200 || f.buf.Len() != 1000 {
		t.Errorf("%d whole lines (%d bytes) before the break; want 200 (1000)", got, f.buf.Len())
	}
	if n, err := SerialWriter(nil).Write([]byte("x")); n != 1 || err != nil {
		t.Errorf("nil writer: %d, %v", n, err)
	}
}
