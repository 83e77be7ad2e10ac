package drain

import (
	"net"
	"os"
	"testing"
)

// TestH2cPrefaceInPieces: an h2c connection is recognised (and so gets the
// two-step GOAWAY) however its preface is split across reads; the first
// read used to need at least 3 bytes. Bytes that stop matching the preface
// are HTTP/1, also when they begin like it.
func TestH2cPrefaceInPieces(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces []string
		h2     bool
	}{
		{"one byte at a time", split(string(h2cPreface), 1), true},
		{"1, 2, then the rest", []string{"P", "RI", string(h2cPreface[3:])}, true},
		{"whole", []string{string(h2cPreface)}, true},
		{"HTTP/1 POST", split("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 1), false},
		{"PRI but HTTP/1.1", split("PRI * HTTP/1.1\r\nHost: x\r\n\r\nSM\r\n\r\n", 2), false},
		{"preface cut short, then other bytes", []string{"PRI * HTTP/2.0\r\n", "GET / HTTP/1.1\r\n\r\n"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			c := &trackedConn{Conn: a, srv: &server{d: New(Options{Logger: quietLog, Signals: []os.Signal{}})}}
			go func() {
				for _, p := range tc.pieces {
					if _, err := b.Write([]byte(p)); err != nil {
						return
					}
				}
			}()
			want := 0
			for _, p := range tc.pieces {
				want += len(p)
			}
			buf := make([]byte, 64)
			for got := 0; got < want; {
				n, err := c.Read(buf) // net.Pipe: one Read per Write, the pieces as split
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
			if c.h2.Load() != tc.h2 {
				t.Errorf("h2 = %v, want %v", c.h2.Load(), tc.h2)
			}
		})
	}
}

func split(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}
