package drain

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeBacklog accepts, without blocking, every connection that completed its
// handshake and waits in ln's accept queue. Closing a listening socket makes
// the kernel reset those connections, and their clients may already have
// sent a request on them; taken here, they are served like any other.
func takeBacklog(ln net.Listener) []net.Conn {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var fds []int
	_ = rc.Control(func(fd uintptr) {
		for {
			nfd, _, err := unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != nil {
				return // EAGAIN: the queue is empty (or the socket cannot tell us more)
			}
			fds = append(fds, nfd)
		}
	})
	conns := make([]net.Conn, 0, len(fds))
	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "")
		c, err := net.FileConn(f) // dups fd
		f.Close()
		if err == nil {
			conns = append(conns, c)
		}
	}
	return conns
}
