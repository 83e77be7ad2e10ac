//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of c has closed its side (a FIN or a
// reset is waiting), without consuming anything.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	// Control, not Read: the Transport's read loop holds the read lock
	// while it waits for the next response.
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
	})
	// An error: the Transport's read loop saw the close first and closed
	// the socket.
	return closed || err != nil
}
