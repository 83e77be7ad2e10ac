//go:build linux && !race

package proxy

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

const rawInput = true

// The fast path's system calls on its non-blocking sockets are made with
// RawSyscall: they never block, so telling the scheduler about them (as
// syscall.Read does, entering and leaving a system-call state) is work for
// nothing (runtime.entersyscall and exitsyscall were 2-3 % of drain exec's
// CPU in a perf profile under wrk -c32). Under
// the race detector they are syscall.Read and syscall.Write
// (fastin_race_linux.go), which tell it that I/O orders memory.

// rawRead reads from the non-blocking socket fd: errWouldBlock if nothing
// waits, io.EOF at the client's close.
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return 0, errWouldBlock
		case e != 0:
			return 0, os.NewSyscallError("read", e)
		case n == 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

// rawSend sends what of p the socket fd takes now, and returns how much
// it sent: an error is left for the caller's Write of the rest to report.
func rawSend(fd int, p []byte) int {
	sent := 0
	for sent < len(p) {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[sent])), uintptr(len(p)-sent),
			syscall.MSG_NOSIGNAL|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return sent
		}
		sent += int(n)
	}
	return sent
}
