package load

import (
	"io"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Collecting responses on the timer tick.
//
// Profiled at 5k requests/s over 32 connections (bench/load-client), the
// client's largest cost was its thread going to sleep in epoll_pwait and
// being woken once per response: each connection is idle for 6 ms between
// requests, so nearly every response found the process asleep. The runtime
// already batches timers (an idle poller sleeps at least 1 ms), so the
// requests due in one millisecond go out on one wake-up; the responses did
// not, because Go's poller watches every socket and the kernel wakes it as
// soon as data arrives, whether or not a goroutine waits for it.
//
// A lazy exchange raises the socket's SO_RCVLOWAT above the size of a small
// response, which tells the kernel not to report the socket readable (and
// so not to wake the poller) for fewer bytes than that, sends the request,
// and sleeps for lazyTick on a runtime timer: the wake-up that sends the
// next requests collects the responses that arrived meanwhile. A FIN or a
// reset still wakes the poller at once (SO_RCVLOWAT concerns data only),
// and a non-blocking read returns whatever has arrived. If the response is
// not complete at the tick, SO_RCVLOWAT goes back to 1 inside the read's
// RawConn callback, after the poller's readiness was reset and before the
// wait, so bytes that arrive from then on wake it as usual: a slow response
// costs two setsockopt calls, and its end is seen when it comes.
//
// The response's arrival time is the kernel's (SO_TIMESTAMPNS, read with the
// bytes), not the moment the tick collected it, so latency stays exact; see
// rawConn.doneAt. (The kernel starts stamping packets a moment after the
// first socket of the system asks for it: the first responses of a run may
// come without a stamp, and then their end is the read's time, which can
// overstate their latency by up to the tick.) The cost is that a connection stays busy until the tick
// (about a millisecond on an idle machine), which is why only a run whose
// connections each wait at least lazyGap between requests uses it.
const (
	lazyTick  = 200 * time.Microsecond // how long a lazy exchange waits before it reads
	lazyLowat = 16 << 10               // SO_RCVLOWAT while waiting for the tick
)

// lazyIO is a fastIO's state for lazy exchanges; the zero value is off.
type lazyIO struct {
	on      bool          // setLazy was called
	ready   bool          // SO_TIMESTAMPNS is on (set with the first request)
	lowat   bool          // SO_RCVLOWAT is lazyLowat: arriving data does not wake the poller
	stamp   time.Time     // the kernel's receive time of the bytes the last Read returned, zero when unknown
	tick    time.Duration // lazyTick; tests lengthen it
	timer   *time.Timer
	sendFn  func(fd uintptr) bool // built once: an exchange allocates nothing
	firstFn func(fd uintptr)
	readFn  func(fd uintptr) bool
	sendErr error
	got     bool // firstFn read something (or failed)
	msg     unix.Msghdr
	iov     unix.Iovec
	cmsg    [4]uint64 // room for one SCM_TIMESTAMPNS message, 8-byte aligned
}

// setLazy makes every exchange on f from now on a lazy one; it is called
// once, when the connection is dialed.
func (f *fastIO) setLazy() {
	f.lazy.on = true
	f.lazy.tick = lazyTick
	f.lazy.sendFn = f.lazySend
	f.lazy.firstFn = func(fd uintptr) { f.lazy.got = f.lazyRead(fd) }
	f.lazy.readFn = f.lazyRead
}

// arrival returns the kernel's receive time of the last bytes read, or the
// zero Time when they were not read by a lazy exchange's tick.
func (f *fastIO) arrival() time.Time { return f.lazy.stamp }

// lazyExchange sends the pending request, waits for the tick, and reads
// into p what has arrived (waiting through the poller if nothing has).
func (f *fastIO) lazyExchange(p []byte) (int, error) {
	f.lazy.stamp = time.Time{}
	f.lazy.sendErr = nil
	if err := f.rc.Write(f.lazy.sendFn); err != nil {
		f.pending = nil
		return 0, err
	}
	if f.lazy.sendErr != nil {
		f.pending = nil
		return 0, f.lazy.sendErr
	}
	if len(f.pending) > 0 { // a full send buffer: never for small requests
		if err := f.writePending(); err != nil {
			return 0, err
		}
	}
	// The tick, but not past the exchange's deadline: a response that
	// never comes is a timeout at the deadline, as on the eager path.
	tick := f.lazy.tick
	if !f.deadline.IsZero() {
		tick = max(min(tick, time.Until(f.deadline)), 0)
	}
	if f.lazy.timer == nil {
		f.lazy.timer = time.NewTimer(tick)
	} else {
		f.lazy.timer.Reset(tick)
	}
	<-f.lazy.timer.C

	// The first read goes around the poller (RawConn.Control checks no
	// deadline): the timer may fire at or after the deadline while the
	// response came before it, which its kernel timestamp shows; the
	// poller would call that a timeout. Only if nothing has come does the
	// read wait through the poller, which then enforces the deadline
	// (and an abort's past deadline). lazyRead's retry after lowering
	// SO_RCVLOWAT runs again after RawConn.Read has reset the readiness,
	// so bytes that come between the two are read, not missed.
	f.p, f.n, f.err = p, 0, nil
	f.lazy.got = false
	if err := f.rc.Control(f.lazy.firstFn); err != nil {
		f.p = nil
		return 0, err
	}
	if !f.lazy.got {
		if err := f.rc.Read(f.lazy.readFn); err != nil {
			f.p = nil
			return 0, err
		}
	}
	f.p = nil
	return f.n, f.err
}

// lazySend runs inside RawConn.Write: it sets the socket up for lazy
// exchanges (once, and again after a slow response lowered SO_RCVLOWAT)
// and sends what it can of the request without waiting.
func (f *fastIO) lazySend(fd uintptr) bool {
	if !f.lazy.ready {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			f.lazy.sendErr = err
			return true
		}
		f.lazy.ready = true
	}
	if !f.lazy.lowat {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, lazyLowat); err != nil {
			f.lazy.sendErr = err
			return true
		}
		f.lazy.lowat = true
	}
	n, err := rawSend(fd, f.pending)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		f.lazy.sendErr = err
	default:
		f.pending = f.pending[n:]
	}
	return true
}

// lazyRead runs inside RawConn.Read: false means wait for the poller.
func (f *fastIO) lazyRead(fd uintptr) bool {
	n, stamp, err := f.lazy.recv(fd, f.p)
	switch {
	case err == syscall.EAGAIN && f.lazy.lowat:
		return f.wake(fd, f.lazy.readFn)
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return false
	case err != 0:
		f.err = err
	case n == 0:
		f.err = io.EOF
	}
	f.n, f.lazy.stamp = n, stamp
	return true
}

// wake lowers SO_RCVLOWAT to 1 so that any data wakes the poller again, then
// tries next once more: bytes that came before the change are read now,
// bytes that come after it wake the wait next starts. It runs inside a
// RawConn.Read callback, after the poller's readiness was reset.
func (f *fastIO) wake(fd uintptr, next func(fd uintptr) bool) bool {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, 1); err != nil {
		f.err = err // a wait now could last until the deadline
		return true
	}
	f.lazy.lowat = false
	return next(fd)
}

// recv is recvmsg(2) as a raw system call on the non-blocking socket fd,
// returning the kernel's receive timestamp of the bytes read (zero if the
// kernel gave none).
func (l *lazyIO) recv(fd uintptr, p []byte) (int, time.Time, syscall.Errno) {
	l.iov.Base = &p[0]
	l.iov.SetLen(len(p))
	l.msg.Iov = &l.iov
	l.msg.SetIovlen(1)
	l.msg.Control = (*byte)(unsafe.Pointer(&l.cmsg[0]))
	l.msg.SetControllen(len(l.cmsg) * 8)
	n, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&l.msg)), 0)
	if e != 0 {
		return 0, time.Time{}, e
	}
	var stamp time.Time
	if int(l.msg.Controllen) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&l.cmsg[0]))
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS {
			ts := (*unix.Timespec)(unsafe.Add(unsafe.Pointer(&l.cmsg[0]), unix.CmsgLen(0)))
			stamp = time.Unix(ts.Unix())
		}
	}
	return int(n), stamp, 0
}
