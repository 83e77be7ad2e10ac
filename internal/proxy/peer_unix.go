//go:build unix

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
