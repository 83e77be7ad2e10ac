//go:build linux

package proxy

import (
	"io"
	"os"
	"syscall"
)

const rawInput = true

// rawRead reads from the non-blocking socket fd: errWouldBlock if nothing
// waits, io.EOF at the client's close.
func rawRead(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
