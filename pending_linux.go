package drain

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes returns how many received bytes wait in the kernel's receive
// queue of c (SIOCINQ), or 0 when it cannot tell.
func pendingBytes(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return n
}
