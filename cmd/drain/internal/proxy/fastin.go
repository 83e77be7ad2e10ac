package proxy

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// How a fast connection reads its client. On Linux the connection is read
// with raw non-blocking reads inside one [syscall.RawConn.Read] that lasts
// as long as requests keep coming: the requests are served from inside it,
// and after a read that returned less than it asked for (the socket was
// empty at that moment) it waits for the socket to become readable
// without trying a read first. Go's own Read tries a read before every
// wait, because each Read begins by forgetting the readiness the poller
// has seen; between two requests of a client that waits for its answer
// that read always finds nothing (EAGAIN), one system call per request of
// the five the fast path makes (bench/exec-syscalls). Within one RawConn.Read
// the readiness is not forgotten: a byte that arrives after the short read
// (a pipelined request, while the request before it is being answered)
// makes the wait return at once. Elsewhere, and for connections that are
// not plain TCP, the same loop reads with the connection's Read.

// Why a run of the input loop ended.
const (
	exitNone   = iota // go on (after an interruption the connection survives)
	exitHand          // hand the connection to net/http
	exitLinger        // close it after "Connection: close" (see lingerClose)
	exitClose         // close it at once
	exitRead          // a read failed: see interrupted
)

// errWouldBlock: a raw read found nothing to read.
var errWouldBlock = errors.New("proxy: would block")

// input is a fast connection's reading side.
type input struct {
	in       inBuf
	scanned  int    // bytes of in.buffered() searched for the head's end already
	need     int    // body bytes of the current request still to read into out
	out      []byte // the current request as it goes upstream
	mustRead bool   // the socket may hold bytes the poller will not signal again
	exit     int
	rerr     error

	rc     syscall.RawConn       // nil: read with c.Read
	fd     int                   // the socket while inside rc.Read's callback, else -1
	stepFn func(fd uintptr) bool // step as rc.Read's callback
	strict *strictConn           // the strict checks raw reads must apply, if any
}

// inPool holds the input buffers: a connection waiting for a request with
// nothing buffered holds none (with raw reads).
var inPool = sync.Pool{New: func() any { b := make([]byte, fastHeadMax); return &b }}

// inBuf is the bytes read from the client and not yet used: b[r:w].
type inBuf struct {
	b    *[]byte
	r, w int
}

func (in *inBuf) buffered() []byte {
	if in.b == nil {
		return nil
	}
	return (*in.b)[in.r:in.w]
}

func (in *inBuf) len() int { return in.w - in.r }

func (in *inBuf) consume(n int) {
	in.r += n
	if in.r == in.w {
		in.r, in.w = 0, 0
	}
}

// free returns the space after the buffered bytes, moving them to the
// front when they reach the end.
func (in *inBuf) free() []byte {
	if in.b == nil {
		in.b = inPool.Get().(*[]byte)
	}
	b := *in.b
	if in.w == len(b) && in.r > 0 {
		in.w = copy(b, b[in.r:in.w])
		in.r = 0
	}
	return b[in.w:]
}

// release gives the buffer back if it is empty.
func (in *inBuf) release() {
	if in.b != nil && in.r == in.w {
		inPool.Put(in.b)
		in.b, in.r, in.w = nil, 0, 0
	}
}

// drop gives the buffer back, whatever it holds.
func (in *inBuf) drop() {
	if in.b != nil {
		inPool.Put(in.b)
		in.b, in.r, in.w = nil, 0, 0
	}
}

// initRead chooses how c is read: raw reads for a TCP connection (behind
// the strict checks or not), c.c.Read otherwise.
func (c *fastConn) initRead() {
	if !rawInput {
		return
	}
	// Only a TCP connection itself: a wrapper's Read may do more than
	// read (raw reads would bypass it), but the strict checks', which
	// filter applies.
	var tc *net.TCPConn
	switch cc := c.c.(type) {
	case *strictConn:
		var ok bool
		if tc, ok = cc.Conn.(*net.TCPConn); !ok {
			return
		}
		c.strict = cc
	case *net.TCPConn:
		tc = cc
	default:
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.rc = rc
	c.fd = -1
	c.stepFn = func(fd uintptr) bool { return c.step(int(fd)) }
}

// run serves requests until the connection leaves the fast path (the
// exit* it returns) or an interruption it survives (exitNone).
func (c *fastConn) run() int {
	c.mustRead, c.exit, c.rerr = true, exitNone, nil
	if c.rc == nil {
		for !c.step(-1) {
		}
	} else {
		err := c.rc.Read(c.stepFn)
		c.fd = -1
		if err != nil && c.exit == exitNone {
			// The wait failed: a deadline (an interruption) or a close.
			c.exit, c.rerr = exitRead, err
		}
	}
	if c.exit == exitRead {
		return c.interrupted(c.rerr)
	}
	return c.exit
}

// step serves the requests the input holds and reads more, until it must
// wait for the client (false: the caller waits until the socket is
// readable and calls it again) or the connection leaves this loop (true:
// c.exit says why). fd is the socket for raw reads, or -1 for c.c.Read.
func (c *fastConn) step(fd int) bool {
	c.fd = fd
	for {
		if c.exit = c.serveBuffered(); c.exit != exitNone {
			return true
		}
		if fd >= 0 {
			if c.strict != nil && c.strict.rejected() {
				// A rejected request: net/http answers it (400) with the
				// rest of the poison, which comes from the strict Read.
				// Not a wait: the client waits for that answer.
				c.exit = exitHand
				return true
			}
			if !c.mustRead {
				// The last read was short: the socket was empty then,
				// and whatever came since has made it readable.
				c.mustRead = true
				c.waiting()
				return false
			}
		} else {
			c.waiting()
		}
		p := c.in.free()
		var n int
		var err error
		if fd < 0 {
			n, err = c.c.Read(p)
		} else {
			n, err = rawRead(fd, p)
			if err == errWouldBlock {
				c.waiting()
				return false
			}
			if n > 0 {
				c.mustRead = n == len(p)
				if c.strict != nil {
					n = c.strict.filter(p, n)
				}
			}
		}
		c.in.w += n
		if err != nil {
			c.exit, c.rerr = exitRead, err
			return true
		}
	}
}

// Write writes p to the client: with raw sends while the socket is at
// hand (inside run's rc.Read), and with c.c's Write for what they could
// not send (a full send buffer: it waits, under c.c's write deadline).
func (c *fastConn) Write(p []byte) (int, error) {
	n := 0
	if c.fd >= 0 {
		n = rawSend(c.fd, p)
		if n == len(p) {
			return n, nil
		}
	}
	m, err := c.c.Write(p[n:])
	return n + m, err
}

// waiting tells the watcher what the connection waits for (its timeouts
// apply to idle connections and to heads); with raw reads an empty buffer
// goes back to the pool for the wait.
func (c *fastConn) waiting() {
	if c.need > 0 {
		return // a body: busy, as when it is read
	}
	st := c.state.Load()
	if c.in.len() == 0 {
		if st != stateIdle {
			c.setState(stateIdle)
		}
		if c.rc != nil {
			c.in.release()
		}
	} else if st != stateHead {
		c.setState(stateHead)
	}
}

// serveBuffered serves the complete requests in the input, and returns
// exitNone when it needs more bytes.
func (c *fastConn) serveBuffered() int {
	for {
		if c.need > 0 {
			b := c.in.buffered()
			k := min(len(b), c.need)
			c.out = append(c.out, b[:k]...)
			c.in.consume(k)
			if c.need -= k; c.need > 0 {
				return exitNone
			}
			if x := c.exchange(); x != exitNone {
				return x
			}
			continue
		}
		b := c.in.buffered()
		from := max(c.scanned-3, 0)
		i := bytes.Index(b[from:], crlfcrlf)
		if i < 0 {
			c.scanned = len(b)
			if len(b) >= fastHeadMax {
				return exitHand
			}
			return exitNone
		}
		c.scanned = 0
		end := from + i + 4
		if c.setState(stateBusy) == whyDrain {
			return exitHand
		}
		if c.r == nil {
			// Taken per request: a connection waiting for one holds
			// neither (bench/scale: memory per idle connection).
			c.r, c.bp = reqPool.Get().(*fastReq), bufPool.Get().(*[]byte)
		}
		if !c.r.parse(b[:end], c.f.cfg.ReadyPath) {
			return exitHand
		}
		c.out = c.r.appendUpstream((*c.bp)[:0], c.f.p.cfg.TrustForwarded, c.ip)
		c.in.consume(end)
		if c.r.length > 0 {
			c.need = int(c.r.length)
			continue
		}
		if x := c.exchange(); x != exitNone {
			return x
		}
	}
}

// exchange serves the request in c.out.
func (c *fastConn) exchange() int {
	keep, err := c.round(c.r, c.out)
	*c.bp, c.out = c.out[:0], nil
	c.endRound()
	switch {
	case err != nil:
		return exitClose
	case !keep:
		return exitLinger
	case c.setState(stateIdle) == whyDrain || c.f.isDraining():
		// Promised keep-alive before the drain began: the Drainer's
		// idle policy decides, as for its own connections.
		return exitHand
	}
	return exitNone
}

var reqPool = sync.Pool{New: func() any { return new(fastReq) }}

// endRound gives back what serving a request took.
func (c *fastConn) endRound() {
	if c.r != nil {
		reqPool.Put(c.r)
		putBuf(c.bp, *c.bp)
		c.r, c.bp = nil, nil
	}
}

// interrupted decides the fate of a connection whose read failed with
// err: a deadline the watcher set (see interrupt), the drain's deadline,
// or the client's close.
func (c *fastConn) interrupted(err error) int {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		if c.need == 0 && c.in.len() > 0 {
			return exitHand // net/http answers what it can
		}
		return exitClose
	}
	c.mu.Lock()
	why := c.why
	c.why = whyNone
	c.mu.Unlock()
	switch why {
	case whyDrain:
		if c.need == 0 {
			return exitHand
		}
	case whyIdle:
		if c.need == 0 && (c.in.len() > 0 || c.peek.hasData()) {
			_ = c.c.SetReadDeadline(time.Time{})
			return exitNone
		}
	}
	// A header timeout, an idle connection, or the drain's deadline.
	return exitClose
}
