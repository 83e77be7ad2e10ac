//go:build unix && !linux

package load

import "syscall"

// peekIdle reports whether the idle socket fd is open with nothing to read
// (see idleProbe): a non-blocking recv with MSG_PEEK.
func peekIdle(fd uintptr, b []byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR
}
