package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// WebSockets get a graceful end at the drain. A tunnelled WebSocket
// carries frames, not requests, so the drain's "Connection: close" never
// reaches it, and cutting the TCP connection at the deadline makes the
// client see an abnormal closure (1006) and the application an error.
// Instead, when the drain says so ([Proxy.GoingAway]: drain exec calls it
// when the lame duck ends), drain exec sends the client a Close frame
// with status 1001 (going away), injected into the application's stream
// at a frame boundary (never inside a frame the application is sending),
// and passes nothing more from the application to the client, which may
// not follow a Close with data. The client answers with its own Close
// frame, which goes to the application as any client's would: the
// application learns that the client is going away and answers, both
// sides close, and the tunnel ends. Nothing is injected into the
// application's side, so it sees one well-formed closing handshake. A
// client or application that does not finish the handshake is cut at the
// drain's deadline as before.

// closeGoingAway is a server-to-client (unmasked) Close frame: status 1001
// and a reason.
var closeGoingAway = func() []byte {
	reason := "drain exec: going away"
	b := []byte{0x88, byte(2 + len(reason)), 0x03, 0xE9}
	return append(b, reason...)
}()

// GoingAway asks every WebSocket tunnelled now or later to close: each
// client gets a Close frame (1001) at the next frame boundary of the
// application's stream. It is safe to call more than once and from any
// goroutine.
func (p *Proxy) GoingAway() {
	p.awayOnce.Do(func() { close(p.away) })
}

// isWebSocket reports whether an upgrade asks for the WebSocket protocol.
func isWebSocket(h http.Header) bool { return headerHasToken(h["Upgrade"], "websocket") }

// wsWriter wraps the ResponseWriter of a WebSocket upgrade so that the
// connection ReverseProxy hijacks is a wsConn.
type wsWriter struct {
	http.ResponseWriter
	p *Proxy
}

func (w wsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w wsWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	ws := &wsConn{Conn: c}
	go ws.watch(w.p.away)
	return ws, brw, nil
}

// wsConn is the client side of a WebSocket tunnel. Writes carry the
// application's frames to the client; they are followed as frames so a
// Close can be injected between two.
type wsConn struct {
	net.Conn

	mu      sync.Mutex
	hdr     [14]byte // the header of the frame being written, so far
	nhdr    int
	left    uint64 // payload bytes of the current frame still to come
	pending bool   // a Close is due at the next boundary
	sent    bool   // the Close went out: drop what follows
	gone    chan struct{}
	once    sync.Once
}

// watch injects the Close once away is closed (or stops with the
// connection).
func (c *wsConn) watch(away <-chan struct{}) {
	c.mu.Lock()
	if c.gone == nil {
		c.gone = make(chan struct{})
	}
	gone := c.gone
	c.mu.Unlock()
	select {
	case <-away:
	case <-gone:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent {
		return
	}
	if c.nhdr == 0 && c.left == 0 {
		c.sendClose()
		return
	}
	c.pending = true
}

// sendClose writes the Close frame. Call with c.mu held, at a boundary.
func (c *wsConn) sendClose() {
	c.sent = true
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Conn.Write(closeGoingAway)
	_ = c.Conn.SetWriteDeadline(time.Time{})
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := len(p)
	for len(p) > 0 && !c.sent {
		n := c.frameBytes(p)
		if _, err := c.Conn.Write(p[:n]); err != nil {
			return total - len(p), err
		}
		p = p[n:]
		if c.pending && c.nhdr == 0 && c.left == 0 {
			c.sendClose()
		}
	}
	return total, nil // after the Close: dropped
}

// frameBytes returns how many bytes of p belong to the current frame (its
// header or payload), advancing the frame state past them.
func (c *wsConn) frameBytes(p []byte) int {
	if c.left > 0 {
		n := uint64(len(p))
		if n > c.left {
			n = c.left
		}
		c.left -= n
		return int(n)
	}
	// In a header: take bytes until it is complete.
	i := 0
	for i < len(p) {
		c.hdr[c.nhdr] = p[i]
		c.nhdr++
		i++
		if need := wsHeaderLen(c.hdr[:c.nhdr]); need > 0 && c.nhdr == need {
			c.left = wsPayloadLen(c.hdr[:c.nhdr])
			c.nhdr = 0
			break
		}
	}
	return i
}

// wsHeaderLen returns the length of a frame header from its first bytes
// (0 while fewer than two are known).
func wsHeaderLen(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// wsPayloadLen returns the payload length of a complete frame header.
func wsPayloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(h[2])<<8 | uint64(h[3])
	case 127:
		var n uint64
		for _, b := range h[2:10] {
			n = n<<8 | uint64(b)
		}
		return n
	default:
		return uint64(l)
	}
}

func (c *wsConn) Close() error {
	c.mu.Lock()
	if c.gone == nil {
		c.gone = make(chan struct{})
	}
	c.once.Do(func() { close(c.gone) })
	c.mu.Unlock()
	return c.Conn.Close()
}
