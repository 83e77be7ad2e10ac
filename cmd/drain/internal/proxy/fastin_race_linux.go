//go:build linux && race

package proxy

import (
	"io"
	"os"
	"syscall"
)

// Under the race detector the fast path's raw system calls are
// syscall.Read and syscall.Write: they tell the detector that a write to a
// socket happens before the read of its bytes (RawSyscall does not, and
// the tests' own synchronisation over loopback would be reported as races).

const rawInput = true

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

func rawSend(fd int, p []byte) int {
	sent := 0
	for sent < len(p) {
		n, err := syscall.Write(fd, p[sent:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return sent
		}
		sent += n
	}
	return sent
}
