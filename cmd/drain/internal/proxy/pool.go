package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// maxIdleConns bounds the pooled upstream connections kept open while
// unused; more are closed when returned.
const maxIdleConns = 1024

// pooled is one pooled HTTP/1.1 connection to the application. It is
// used by one request at a time and has no goroutine of its own: the
// request's handler writes the request and reads the response.
type pooled struct {
	conn      net.Conn
	br        *bufio.Reader // reads through cr
	cr        ctxReader
	peek      *peeker
	idleSince time.Time               // when it was last put in the pool
	taken     time.Time               // when it was taken for the current request
	values    [numCommonFields]string // the last value of each common field, reused when equal
	head      headState               // readResponseHead's, per head
	hh        httpHead                // the net/http path's headSink
	hb        httpChunks              // the net/http path's bodySink
}

// pool holds the idle upstream connections, most recently used last: a
// request takes the newest, the one least likely to be timed out by the
// application, and the sweep closes the oldest.
type pool struct {
	addr      string
	timeout   time.Duration
	peekAfter time.Duration
	dialer    net.Dialer

	mu    sync.Mutex
	idle  []*pooled
	sweep *time.Timer // armed while idle is not empty
}

func newPool(addr string) *pool {
	return &pool{addr: addr, timeout: DefaultIdleConnTimeout, peekAfter: peekAfter, dialer: net.Dialer{Timeout: DefaultDialTimeout}}
}

// peekAfter: a connection idle in the pool for less than this is not
// checked for a close by the application before it is used. The check
// turns a close that happened while the connection was idle into a safe
// retry; applications close idle connections at their keep-alive timeout
// (seconds: gunicorn 2 s, Node.js 5 s, nginx 75 s), which a connection
// idle for under a millisecond has not reached since its last response,
// and a close at another moment is as likely to fall between the check
// and the write as within such an idle time. Under load, connections are
// reused within microseconds, and the check would cost a system call per
// request.
const peekAfter = time.Millisecond

// get returns an idle connection (reused) or a new one.
func (p *pool) get(ctx context.Context, fresh bool) (u *pooled, reused bool, err error) {
	if !fresh {
		now := time.Now()
		p.mu.Lock()
		for n := len(p.idle); n > 0; n = len(p.idle) {
			u = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			if now.Sub(u.idleSince) < p.timeout {
				p.mu.Unlock()
				u.taken = now
				return u, true, nil
			}
			u.conn.Close()
		}
		p.mu.Unlock()
	}
	c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, notSent{err}
	}
	u = &pooled{conn: c, cr: ctxReader{conn: c, sa: newSendAwait(c)}, peek: newPeeker(c), taken: time.Now()}
	u.br = bufio.NewReaderSize(&u.cr, 16<<10)
	return u, false, nil
}

// put returns u to the pool.
func (p *pool) put(u *pooled) {
	u.cr.ctx = nil
	u.idleSince = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= maxIdleConns {
		u.conn.Close()
		return
	}
	p.idle = append(p.idle, u)
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.timeout, p.expire)
	}
}

// expire closes the connections idle for the pool's timeout and arms the
// sweep again for the oldest one left.
func (p *pool) expire() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= p.timeout {
		p.idle[n].conn.Close()
		p.idle[n] = nil
		n++
	}
	p.idle = append(p.idle[:0], p.idle[n:]...)
	if len(p.idle) == 0 {
		p.sweep = nil
		return
	}
	p.sweep = time.AfterFunc(p.timeout-now.Sub(p.idle[0].idleSince), p.expire)
}

// closeIdle closes every idle connection.
func (p *pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, u := range p.idle {
		u.conn.Close()
		p.idle[i] = nil
	}
	p.idle = p.idle[:0]
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
}

// ctxReader reads from an upstream connection until ctx, the current
// request's context, ends. It polls the context at read deadlines rather
// than registering with it (context.AfterFunc cost five allocations per
// request), so a cancelled request notices within pollMax.
type ctxReader struct {
	conn     net.Conn
	sa       *sendAwait // nil where the platform has none
	send     []byte     // a request to send before the next read (see sendAwait)
	ctx      context.Context
	giveUp   time.Time // if set, a read waiting past it fails with errContinueTimeout
	deadline time.Time // the read deadline set last
	ended    bool      // a read failed because ctx ended: the exchange is cut
}

// The first poll comes pollMin after a request starts; the interval
// doubles up to pollMax, so a long-polling request costs a wake-up a
// second, and a request cancelled by its client or by the drain's
// deadline ends within a second.
const (
	pollMin = 100 * time.Millisecond
	pollMax = time.Second
)

func (r *ctxReader) Read(p []byte) (int, error) {
	if out := r.send; out != nil {
		r.send = nil
		var (
			n    int
			err  error
			rest = out
		)
		if r.sa != nil {
			n, rest, err = r.sa.do(out, p)
		}
		if len(rest) > 0 && (err == nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			// Not sent (no sendAwait here, a deadline already past) or
			// not all of it (a full send buffer): the usual way.
			if _, err := r.conn.Write(rest); err != nil {
				return 0, err
			}
		} else if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		// Sent; waiting hit the read deadline: poll the context below.
	}
	wait := pollMin
	for {
		n, err := r.conn.Read(p)
		if n > 0 || err == nil || r.ctx == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err := r.ctx.Err(); err != nil {
			r.ended = true
			return 0, err
		}
		now := time.Now()
		if !r.giveUp.IsZero() && !now.Before(r.giveUp) {
			return 0, errContinueTimeout
		}
		wait = min(2*wait, pollMax)
		next := now.Add(wait)
		if !r.giveUp.IsZero() && r.giveUp.Before(next) {
			next = r.giveUp
		}
		if dl, ok := r.ctx.Deadline(); ok && dl.Before(next) {
			// A request with a time limit (a readiness probe) ends at
			// it, not at the next poll.
			next = dl
		}
		r.deadline = next
		_ = r.conn.SetReadDeadline(next)
	}
}

// start arms the context poll for a request starting now. A deadline
// still at least pollMin/2 away is kept: a busy connection re-arms it
// every pollMin/2 rather than once per request.
func (r *ctxReader) start(ctx context.Context, now time.Time) {
	r.ctx, r.ended = ctx, false
	if r.deadline.Sub(now) < pollMin/2 {
		r.deadline = now.Add(pollMin)
		_ = r.conn.SetReadDeadline(r.deadline)
	}
}
