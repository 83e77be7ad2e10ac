//go:build !linux

package load

import (
	"net"
	"time"
)

// fastIO exists on Linux only (raw system calls); elsewhere every
// connection uses the net.Conn's own Read and Write.
type fastIO struct{}

func newFastIO(net.Conn) *fastIO              { return nil }
func (f *fastIO) send([]byte)                 {}
func (f *fastIO) Read([]byte) (int, error)    { return 0, nil }
func (f *fastIO) setDeadline(time.Time) error { return nil }
func (f *fastIO) setLazy()                    {}
func (f *fastIO) arrival() time.Time          { return time.Time{} }

// rawWriter exists on Linux only.
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter           { return nil }
func (w *rawWriter) Write(b []byte) (int, error) { return len(b), nil }
