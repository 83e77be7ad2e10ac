package load

import (
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// fastIO is the raw client's I/O on a clear-text TCP connection: the
// request is written and the response read inside one RawConn.Read, with
// non-blocking system calls that do not enter the scheduler's syscall
// state. Profiled at 5k requests/s (bench/load-client), the client's CPU
// went mostly to context switches: each time the idle process woke up, its
// first entersyscall woke the runtime's sysmon thread (asleep while every P
// is idle), which then polled every 20 µs; and every response cost a read
// that found nothing (EAGAIN) before the wait. Here the write happens after
// RawConn.Read has reset the poller's readiness and before it waits, so the
// response's arrival cannot be missed, and no read is tried before it can
// succeed. Writes and reads on a non-blocking socket return at once, which
// is what a raw system call needs.
type fastIO struct {
	nc       *net.TCPConn
	rc       syscall.RawConn
	fn       func(fd uintptr) bool // built once: reading allocates nothing
	deadline time.Time             // the exchange's

	pending []byte // request bytes to send before waiting for the response
	p       []byte // the reader's buffer
	n       int
	err     error
	again   bool // the socket buffer was full: write the rest the slow way

	lazy lazyIO // collecting responses on the timer tick (lazy_linux.go)
}

// newFastIO returns the fast I/O for nc, or nil when nc is not a plain TCP
// connection (TLS, a test's pipe, a wrapper that may buffer).
func newFastIO(nc net.Conn) *fastIO {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	f := &fastIO{nc: tc, rc: rc}
	f.fn = f.step
	return f
}

// step runs inside RawConn.Read: false means wait until the socket is
// readable (or the read deadline passes), then call again.
func (f *fastIO) step(fd uintptr) bool {
	if len(f.pending) > 0 {
		n, err := rawSend(fd, f.pending)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			f.again = true
			return true
		case err != nil:
			f.err = err
			return true
		}
		f.pending = f.pending[n:]
		if len(f.pending) > 0 {
			f.again = true
			return true
		}
		return false // sent: wait for the answer without a read first
	}
	n, err := rawRead(fd, f.p)
	switch {
	case err == syscall.EAGAIN && f.lazy.lowat:
		// The rest of a response the tick collected part of: data must
		// wake the wait again before it starts.
		return f.wake(fd, f.fn)
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return false
	case err != nil:
		f.err = err
	case n == 0:
		f.err = io.EOF
	}
	f.n = n
	return true
}

// send makes the next Read send req first, then wait for the response.
func (f *fastIO) send(req []byte) { f.pending = req }

// Read reads into p, first sending a pending request. It blocks until some
// bytes arrive, the peer closes, or the read deadline passes.
func (f *fastIO) Read(p []byte) (int, error) {
	if f.lazy.on && len(f.pending) > 0 {
		return f.lazyExchange(p)
	}
	f.lazy.stamp = time.Time{}
	f.p, f.n, f.err = p, 0, nil
	for {
		f.again = false
		if err := f.rc.Read(f.fn); err != nil {
			f.pending = nil
			return 0, err
		}
		if !f.again {
			break
		}
		// The socket's send buffer was full (never for the small requests
		// of a connection that is not pipelining): finish the write with
		// the poller's blocking write, then wait as before.
		if err := f.writePending(); err != nil {
			return 0, err
		}
	}
	f.p = nil
	if f.err != nil {
		f.pending = nil
		return f.n, f.err
	}
	return f.n, nil
}

// writePending sends the rest of the pending request with the runtime's
// blocking write, before the exchange's deadline.
func (f *fastIO) writePending() error {
	rest := f.pending
	f.pending = nil
	if err := f.nc.SetWriteDeadline(f.deadline); err != nil {
		return err
	}
	return f.write(rest)
}

// write sends b with the runtime's blocking write.
func (f *fastIO) write(b []byte) error {
	var werr error
	err := f.rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := rawSend(fd, b)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// setDeadline sets the exchange's deadline: on the socket for reading (one
// runtime timer), and for writing only when a write has to wait (the rare
// full buffer).
func (f *fastIO) setDeadline(t time.Time) error {
	f.deadline = t
	return f.nc.SetReadDeadline(t)
}

// rawSend is send(2) with MSG_NOSIGNAL (a reset peer is EPIPE, not a
// SIGPIPE) as a raw system call: the socket is non-blocking.
func rawSend(fd uintptr, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawRead is read(2) as a raw system call on a non-blocking socket; b is
// never empty (the response reader's free space).
func rawRead(fd uintptr, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// peekIdle reports whether the idle socket fd is open with nothing to read
// (see idleProbe): recv(2) with MSG_PEEK|MSG_DONTWAIT, a raw system call.
func peekIdle(fd uintptr, b []byte) bool {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e == syscall.EAGAIN || e == syscall.EWOULDBLOCK || e == syscall.EINTR
}

// rawWriter writes through the poller like net.Conn.Write, but with raw
// send(2) calls: it waits (RawConn.Write) only when the socket buffer is
// full. The HTTP/2 client writes its frames with it; one writer at a time.
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // built once: writing allocates nothing
	b   []byte
	err error
}

// newRawWriter returns nil when nc is not a plain TCP connection.
func newRawWriter(nc net.Conn) *rawWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = func(fd uintptr) bool {
		for len(w.b) > 0 {
			n, err := rawSend(fd, w.b)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				w.err = err
				return true
			}
			w.b = w.b[n:]
		}
		return true
	}
	return w
}

func (w *rawWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	w.b, w.err = b, nil
	err := w.rc.Write(w.fn)
	n := len(b) - len(w.b)
	w.b = nil
	if err == nil {
		err = w.err
	}
	return n, err
}
