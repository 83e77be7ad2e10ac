package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// postBody is the body of every POST: small and fixed.
const postBody = "drain load test body, 40 bytes long....\n"

// rawConn is one client connection of the raw HTTP/1.1 client. It is owned
// by one goroutine at a time; only deadlines are set from others (to abort).
type rawConn struct {
	nc      net.Conn
	id      uint32
	replica int32
	host    string // the Host header value
	rr      respReader
	idle    idleProbe
	fast    *fastIO  // nil unless nc is plain TCP on Linux
	reqs    [][]byte // the run's requests by method index, built on first use
}

// newRawConn wraps nc; tcp is the connection under nc's TLS (nc itself in
// clear text), which the idle probe peeks at.
func newRawConn(nc, tcp net.Conn, id uint32, ep endpoint.Endpoint) *rawConn {
	c := &rawConn{nc: nc, id: id, replica: ep.Replica, host: ep.Addr}
	if nc == tcp {
		c.fast = newFastIO(nc)
	}
	if c.fast != nil {
		c.rr.reset(c.fast)
	} else {
		c.rr.reset(nc)
	}
	c.idle.init(tcp)
	return c
}

// request returns the bytes of request method i of q on c, built once per
// connection (the Host may be its address), so a request allocates nothing.
func (c *rawConn) request(q *Request, methods []string, i int) []byte {
	if c.reqs == nil {
		c.reqs = make([][]byte, len(methods))
	}
	if c.reqs[i] == nil {
		c.reqs[i] = q.bytes(methods[i], c.host)
	}
	return c.reqs[i]
}

// exchange writes req and reads one response, all before deadline. It never
// retries. A nil error means a complete response; then h tells whether the
// connection may be reused (h.close false).
func (c *rawConn) exchange(req []byte, deadline time.Time) (h respHead, err error) {
	if c.fast != nil {
		if err := c.fast.setDeadline(deadline); err != nil {
			return h, err
		}
		c.fast.send(req) // by the response reader's first read
		return c.read()
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return h, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return h, err
	}
	return c.read()
}

// read reads one response; any unexpected extra byte makes the connection
// unusable (we never pipeline), which the caller learns from h.close.
func (c *rawConn) read() (h respHead, err error) {
	h, err = c.rr.readResponse()
	if err == nil && c.rr.buffered() > 0 {
		h.close = true
	}
	return h, err
}

// doneAt returns when the last exchange's response arrived, given that it
// was sent at sent and read by now: the kernel's receive time when a lazy
// exchange collected it on the tick (see lazy_linux.go), now otherwise. The
// kernel's time is a wall-clock reading; it is used only as an age
// subtracted from now, and only when it falls between sent and now, so a
// clock step cannot move a Result outside its exchange.
func (c *rawConn) doneAt(sent, now time.Time) time.Time {
	if c.fast == nil {
		return now
	}
	stamp := c.fast.arrival()
	if stamp.IsZero() {
		return now
	}
	age := now.Sub(stamp) // wall clock: stamp has no monotonic reading
	if age < 0 || age > now.Sub(sent) {
		return now
	}
	return now.Add(-age)
}

func (c *rawConn) close() { c.nc.Close() }

// classify maps an error to the outcome it means, where it was seen (dial,
// write or read). The order matters: a reset or refusal carried inside a
// timeout-looking wrapper is still a reset or refusal.
func classify(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		// On a real node: the SYN went to a deleted pod's address whose
		// ARP entry was gone; the kernel gives up after three ARP
		// requests (~3 s). See docs/kubernetes.md, "The other class".
		return Unreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Other
}

// statusOutcome classifies a complete response by its status: OK when
// expect has it, else lost by class.
func statusOutcome(status int, expect StatusSet) Outcome {
	switch {
	case expect.Has(status):
		return OK
	case status == 503:
		return Status503
	case status == 502:
		return Status502
	case status == 504:
		return Status504
	case status >= 500:
		return Status5xx
	case status >= 400:
		return Status4xx
	}
	return StatusOther
}
