package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
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
}

func newRawConn(nc net.Conn, id uint32, ep endpoint.Endpoint) *rawConn {
	c := &rawConn{nc: nc, id: id, replica: ep.Replica, host: ep.Addr}
	c.rr.reset(nc)
	c.idle.init(nc)
	return c
}

// request returns the bytes of a GET / or POST / with a Content-Length body.
// They are built once per connection, so a request allocates nothing.
func requestBytes(host string, post bool) []byte {
	if post {
		return []byte("POST / HTTP/1.1\r\nHost: " + host +
			"\r\nUser-Agent: drain-load\r\nContent-Type: text/plain\r\nContent-Length: " +
			strconv.Itoa(len(postBody)) + "\r\n\r\n" + postBody)
	}
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: drain-load\r\n\r\n")
}

// exchange writes req and reads one response, all before deadline. It never
// retries. A nil error means a complete response; then h tells whether the
// connection may be reused (h.close false).
func (c *rawConn) exchange(req []byte, deadline time.Time) (h respHead, err error) {
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

// statusOutcome classifies a complete response by its status.
func statusOutcome(status int) Outcome {
	switch {
	case status == 503:
		return Status503
	case status == 502:
		return Status502
	case status == 504:
		return Status504
	case status >= 500:
		return Status5xx
	}
	return OK
}
