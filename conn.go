package drain

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Why closed: counted in [Stats].
const (
	closedByPeer      = iota // the client closed, or net/http closed after "Connection: close"
	closedIdle               // the idle policy closed it
	closedForced             // the deadline or a second signal closed it
	closedIdleTimeout        // the caller's IdleTimeout closed it (steady state)
	numCloseReasons
)

// trackedConn wraps every accepted connection. It knows what net/http does
// not tell through ConnState: whether any byte of a next request has arrived
// while the connection counts as idle, and whether net/http is blocked
// waiting for one (so nothing is buffered in user space).
type trackedConn struct {
	net.Conn
	srv *server

	reading atomic.Bool   // a Read is blocked in the kernel
	bytes   atomic.Uint64 // bytes read so far
	state   atomic.Int32  // last http.ConnState seen
	h2      atomic.Bool   // speaks HTTP/2 (h2c preface seen, or ALPN "h2")

	idleMark     atomic.Uint64 // bytes at the last transition to idle
	idleSince    atomic.Int64  // unix nanos: last transition to idle, or accept
	protoChecked atomic.Bool   // ALPN looked at (TLS only)
	hinted       atomic.Bool   // the Keep-Alive hint was sent
	rw           drainWriter   // the current HTTP/1 request's writer (one at a time)
	newRead      atomic.Int64  // unix nanos of the last byte read while in StateNew
	idleDeadline atomic.Int64  // unix nanos: net/http's idle read deadline, kept lazily (0: none)

	// h2c only (see h2frame.go): the frames in each direction, and the
	// two-step GOAWAY.
	rs        frameScanner // client to server, owned by Read
	notH2c    bool         // the first bytes are not the h2c preface; owned by Read
	wmu       sync.Mutex   // guards ws, goAway, and writes to the socket
	ws        frameScanner // server to client
	goAway    int          // goAwayNone, goAwayPending or goAwaySent
	goAwayAt  atomic.Int64 // unix nanos: our GOAWAY and PING were written
	pingAcked atomic.Bool  // the client acknowledged our PING
	ackedAt   atomic.Int64 // unix nanos: when the ACK was read
	opened    atomic.Int64 // streams the client opened before the ACK
	handled   atomic.Int64 // streams that reached the handler

	// guarded by srv.mu
	reason        int       // why it was closed, once closing
	closing       bool      // we decided to close it
	finWait       bool      // net/http half-closed it after "Connection: close"
	goAwayStarted bool      // h2c: startGoAway was called
	quietAt       time.Time // first seen quiet (see quiet)
	quietBytes    uint64    // bytes read then
	peerFin       bool      // and the client has closed its side since
}

var h2cPreface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

func (c *trackedConn) Read(p []byte) (int, error) {
	c.reading.Store(true)
	n, err := c.Conn.Read(p)
	c.reading.Store(false)
	if n > 0 {
		before := c.bytes.Add(uint64(n)) - uint64(n)
		if !c.notH2c && before < uint64(len(h2cPreface)) {
			// The preface may come in pieces (a first read of one
			// byte): match it across reads, and only a whole one counts.
			k := min(n, len(h2cPreface)-int(before))
			switch {
			case !bytes.Equal(p[:k], h2cPreface[before:int(before)+k]):
				c.notH2c = true
			case int(before)+k == len(h2cPreface):
				c.h2.Store(true)
				c.rs.preface = k // the rest of it is in p
			}
		}
		if c.h2.Load() && !c.srv.tls {
			// Also after the ACK: a client may have taken a stream id
			// before it read our GOAWAY and write its HEADERS after the
			// ACK (x/net/http2 allocates the id and writes the headers
			// under different locks).
			c.rs.scan(p[:n])
			c.opened.Store(int64(c.rs.opened))
			if c.rs.pingAcked && !c.pingAcked.Load() {
				c.ackedAt.Store(time.Now().UnixNano())
				c.pingAcked.Store(true)
				c.srv.d.poke()
			}
		}
		if c.srv.tls && http.ConnState(c.state.Load()) == http.StateNew {
			c.newRead.Store(time.Now().UnixNano())
		}
	}
	return n, err
}

// Write passes the server's bytes on; on an h2c connection it follows the
// frames, to insert the first GOAWAY and the PING between two of them.
func (c *trackedConn) Write(p []byte) (int, error) {
	if !c.h2.Load() || c.srv.tls {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for {
		if c.goAway == goAwayPending && c.ws.atBoundary() {
			if err := c.writeGoAwayLocked(); err != nil {
				return written, err
			}
		}
		if c.goAway != goAwayPending {
			c.ws.scan(p[written:])
			n, err := c.Conn.Write(p[written:])
			return written + n, err
		}
		// Mid-frame: pass the rest of the current frame first.
		k := c.ws.next(p[written:])
		n, err := c.Conn.Write(p[written : written+k])
		written += n
		if err != nil {
			return written, err
		}
		if written == len(p) {
			if c.goAway == goAwayPending && c.ws.atBoundary() {
				// The frame is complete: no need to wait for the
				// server's next write, which may never come.
				err = c.writeGoAwayLocked()
			}
			return written, err
		}
	}
}

const (
	goAwayNone = iota
	goAwayPending
	goAwaySent
)

// startGoAway begins the two-step GOAWAY on an h2c connection: at once if
// the server is between frames, else at the end of the frame it is writing.
// It may block on the socket, so the drain calls it on a goroutine.
func (c *trackedConn) startGoAway() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.goAway != goAwayNone {
		return
	}
	c.goAway = goAwayPending
	if c.ws.atBoundary() {
		_ = c.writeGoAwayLocked()
	}
}

func (c *trackedConn) writeGoAwayLocked() error {
	c.goAway = goAwaySent
	_, err := c.Conn.Write(goAwayPing)
	c.goAwayAt.Store(time.Now().UnixNano())
	return err
}

// goAwayDone reports whether the server's own GOAWAY can no longer refuse
// a stream on this h2c connection: the client has acknowledged our PING
// (so it read our GOAWAY and opens no stream after it), goAwaySettle has
// passed since, and every stream it opened reached the handler. A client
// that never answers gets the server's GOAWAY at the drain's deadline: a
// busy client's read loop can lag by seconds (seen under the race detector),
// and a GOAWAY it has not read would refuse the streams it still opens.
func (c *trackedConn) goAwayDone(now, deadline time.Time) bool {
	if c.pingAcked.Load() && now.Sub(time.Unix(0, c.ackedAt.Load())) >= goAwaySettle && c.handled.Load() >= c.opened.Load() {
		return true
	}
	return !now.Before(deadline)
}

// goAwaySettle is how long after the ACK the drain still expects HEADERS
// of a stream the client numbered before reading our GOAWAY.
const goAwaySettle = 50 * time.Millisecond

// SetReadDeadline keeps net/http's keep-alive idle deadline (set right after
// a connection goes idle) in memory instead of arming a runtime timer twice
// per request; the Drainer's idle sweep enforces it, and only on a quiet
// connection. Every other deadline goes to the socket.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	// Only the first deadline of an idle period, before any byte of the
	// next request: after its first bytes net/http sets the header
	// deadline (still in StateIdle), which must reach the socket.
	if c.srv.lazyIdle && http.ConnState(c.state.Load()) == http.StateIdle && !c.h2.Load() &&
		t.Unix() > farPast && c.idleDeadline.Load() == 0 && c.bytes.Load() == c.idleMark.Load() {
		c.idleDeadline.Store(t.UnixNano())
		return nil
	}
	if c.idleDeadline.Load() != 0 {
		c.idleDeadline.Store(0)
	}
	return c.Conn.SetReadDeadline(t)
}

// farPast separates real deadlines from net/http's "abort this read now"
// deadline (a moment in 1970).
const farPast = 1_000_000_000

// CloseWrite lets net/http's "Connection: close" path send its FIN at once
// (it looks for this method). While draining, it also waits for the client's
// FIN so the drain can count the connection as finished without waiting for
// net/http's fixed 500 ms lingering close.
func (c *trackedConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	err := cw.CloseWrite()
	if c.srv.d.phase.Load() >= int32(PhaseLameDuck) && c.srv.d.linger() {
		c.srv.mu.Lock()
		c.finWait = true
		c.srv.mu.Unlock()
		go c.awaitPeerFin()
	}
	return err
}

// awaitPeerFin reads what the client still sends until its FIN, bounded by
// net/http's own lingering delay, then closes the socket.
func (c *trackedConn) awaitPeerFin() {
	defer c.srv.d.lingering.Done()
	_ = c.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err := io.Copy(io.Discard, c.Conn)
	if err == nil { // io.Copy returns nil at EOF: the client closed
		c.srv.mu.Lock()
		c.peerFin = true
		c.srv.mu.Unlock()
		c.Conn.Close()
		c.srv.d.poke()
	}
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.srv.forget(c)
	return err
}

// quiet reports whether an idle connection has received nothing of a next
// request: net/http waits in Read, no byte arrived since it became idle, and
// the kernel holds none. When it is not quiet, retry says when to look
// again: zero when only an event (a ConnState change, a close) can make it
// quiet, so that connections holding part of a request (slowloris) cost
// nothing while they wait. Call with srv.mu held.
func (c *trackedConn) quiet(now time.Time) (ok bool, retry time.Time) {
	st := http.ConnState(c.state.Load())
	if st != http.StateIdle && st != http.StateNew {
		return false, time.Time{}
	}
	if c.bytes.Load() != c.idleMark.Load() {
		// Part of a request has arrived: net/http reports it (StateActive)
		// once complete. Except over TLS, where a new connection's
		// handshake bytes look like a request's at the socket: one that has
		// been silent for the keep-alive timeout since its last byte is
		// treated as idle (a client that stalls that long in the middle of
		// its first request's headers would hit a read timeout in steady
		// state too).
		if st != http.StateNew || !c.srv.tls {
			return false, time.Time{}
		}
		if at := time.Unix(0, c.newRead.Load()).Add(max(c.srv.keepAlive, 0)); now.Before(at) {
			return false, at
		}
	}
	// The one system call, at most a few times per connection and event:
	// bytes may wait in the kernel while net/http has not read them yet.
	if !c.reading.Load() || pendingBytes(c.Conn) != 0 {
		c.quietAt = time.Time{}
		return false, now.Add(pollInterval)
	}
	// A Read may have taken the bytes from the kernel and not yet
	// returned (reading still set, the counter not yet updated): only a
	// connection seen quiet twice, pollInterval apart, with no byte read
	// in between, is quiet.
	b := c.bytes.Load()
	if c.quietAt.IsZero() || c.quietBytes != b {
		c.quietAt, c.quietBytes = now, b
		return false, now.Add(pollInterval)
	}
	if now.Sub(c.quietAt) < pollInterval {
		return false, c.quietAt.Add(pollInterval)
	}
	return true, time.Time{}
}

// quietNow is quiet at a unix-nanosecond moment, for the idle sweep.
func (c *trackedConn) quietNow(now int64) bool {
	ok, _ := c.quiet(time.Unix(0, now))
	return ok
}

// listener tracks every accepted connection and can be closed by the drain
// independently of net/http. Close first takes the connections waiting in
// the kernel's accept queue (the kernel would reset them), and Accept hands
// them out before it reports the closed listener.
type listener struct {
	net.Listener
	srv       *server
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	backlog []*trackedConn // taken by Close, not yet returned by Accept
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.mu.Lock()
		if len(l.backlog) == 0 {
			l.mu.Unlock()
			return nil, err
		}
		tc := l.backlog[0]
		l.backlog = l.backlog[1:]
		l.mu.Unlock()
		return tc, nil
	}
	tc := &trackedConn{Conn: c, srv: l.srv}
	l.srv.track(tc)
	return tc, nil
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		// Tracked at once, so that the drain waits for them as for any
		// accepted connection.
		var taken []*trackedConn
		for _, c := range takeBacklog(l.Listener) {
			tc := &trackedConn{Conn: c, srv: l.srv}
			l.srv.track(tc)
			taken = append(taken, tc)
		}
		l.mu.Lock()
		l.backlog = taken
		l.mu.Unlock()
		l.closeErr = l.Listener.Close()
	})
	return l.closeErr
}

// closeBacklog closes the taken connections net/http never accepted (its
// Serve loop ended first); called once the servers are closed.
func (l *listener) closeBacklog() {
	l.mu.Lock()
	left := l.backlog
	l.backlog = nil
	l.mu.Unlock()
	for _, c := range left {
		c.Close()
	}
}

// unwrap maps what ConnState hands us (our conn, or a *tls.Conn over it) to
// our conn.
func unwrap(c net.Conn) (*trackedConn, *tls.Conn) {
	switch c := c.(type) {
	case *trackedConn:
		return c, nil
	case *tls.Conn:
		tc, _ := c.NetConn().(*trackedConn)
		return tc, c
	}
	return nil, nil
}

// linger counts one awaitPeerFin goroutine, unless the drain has stopped
// waiting for them (then the connection is simply left to net/http).
func (d *Drainer) linger() bool {
	d.lingerMu.Lock()
	defer d.lingerMu.Unlock()
	if d.lingerEnd {
		return false
	}
	d.lingering.Add(1)
	return true
}
