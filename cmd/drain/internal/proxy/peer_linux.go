//go:build linux

package proxy

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c has closed its side (a FIN or a
// reset is waiting), without consuming anything.
func peerClosed(c net.Conn) bool { return newPeeker(c).peerClosed() }

// peeker is peerClosed for one connection, checked once per request: the
// raw connection and the callback are made once, so a check allocates
// nothing.
type peeker struct {
	rc     syscall.RawConn
	fn     func(fd uintptr)
	closed bool
	data   bool // a byte from the peer waits
	b      [1]byte
}

func newPeeker(c net.Conn) *peeker {
	p := &peeker{}
	if sc, ok := c.(syscall.Conn); ok {
		p.rc, _ = sc.SyscallConn()
	}
	p.fn = func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		p.closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
		p.data = n > 0
	}
	return p
}

// peerClosed reports whether the peer has closed its side. It uses
// Control, not Read: a reader may hold the connection's read lock while it
// waits (the Transport's read loop does). An error means the connection
// was closed here.
func (p *peeker) peerClosed() bool {
	if p.rc == nil {
		return false
	}
	p.closed = false
	if err := p.rc.Control(p.fn); err != nil {
		return true
	}
	return p.closed
}

// hasData reports whether bytes from the peer wait in the receive queue.
func (p *peeker) hasData() bool {
	if p.rc == nil {
		return false
	}
	p.data = false
	_ = p.rc.Control(p.fn)
	return p.data
}

// sendAwait sends a request and reads the first bytes of its answer in one
// RawConn.Read: the poller's readiness is reset before the send, so the
// answer's arrival cannot be missed, and the first read waits for it
// instead of trying at once and finding nothing (Go's net.Conn.Read tries
// first: a system call per request for nothing). The callback is made once
// per connection, so a call allocates nothing.
type sendAwait struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	out []byte // still to send
	in  []byte
	n   int
	err error
}

func newSendAwait(c net.Conn) *sendAwait {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sendAwait{rc: rc}
	s.fn = func(fd uintptr) bool {
		if len(s.out) > 0 {
			// Raw system calls, as the fast path's client side makes
			// (fastin_linux.go): the socket is non-blocking.
			n := rawSend(int(fd), s.out)
			s.out = s.out[n:]
			if len(s.out) > 0 {
				return true // the caller sends the rest the usual way (and reports its error)
			}
			return false // sent: wait until the answer is readable
		}
		n, err := rawRead(int(fd), s.in)
		switch {
		case err == errWouldBlock:
			return false
		case err != nil:
			s.err = err
		default:
			s.n = n
		}
		return true
	}
	return s
}

// do sends out, waits and reads into in. rest is what was not sent (after
// an error before sending, or a full send buffer): the caller sends it.
func (s *sendAwait) do(out, in []byte) (n int, rest []byte, err error) {
	s.out, s.in, s.n, s.err = out, in, 0, nil
	rerr := s.rc.Read(s.fn)
	n, rest, err = s.n, s.out, s.err
	s.out, s.in = nil, nil
	if rerr != nil {
		return 0, rest, rerr
	}
	return n, rest, err
}
