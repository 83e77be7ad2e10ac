package netpath

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
)

// Latency is a one-way delay added in each direction of a Relay. The zero
// value adds none.
type Latency struct {
	// Delay is added to every segment, FIN and RST, in both directions (0 or
	// negative: none).
	Delay time.Duration
	// Jitter varies each delay uniformly in [Delay-Jitter, Delay+Jitter]
	// (never below 0) without reordering: a segment is never delivered
	// before the one read ahead of it (0 or negative: none).
	Jitter time.Duration
}

// next returns when a piece read at now is delivered, given the delivery
// time of the piece before it in the same direction.
func (l Latency) next(now, prev time.Time) time.Time {
	d := max(l.Delay, 0)
	if l.Jitter > 0 {
		d += time.Duration(rand.Int64N(int64(2*l.Jitter)+1)) - l.Jitter
		d = max(d, 0)
	}
	return maxTime(now.Add(d), prev)
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// DialFunc dials an address, like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Relay is a TCP relay that adds Latency between the clients connecting to
// its listener and one upstream address, in both directions, for data and
// for the end of a connection alike:
//
//   - each chunk read from one side is written to the other side Delay
//     (± Jitter) after it was read, in order;
//   - a FIN (read EOF) is delivered as CloseWrite Delay after it was read,
//     so half-closed connections stay half-closed and the other side can
//     still send;
//   - an RST (read ECONNRESET) is delivered as an RST (SO_LINGER 0, then
//     close) Delay after it was read, so the other side sees ECONNRESET,
//     not EOF;
//   - the upstream is dialed Delay after the client's connection was
//     accepted (the SYN's trip); if that dial fails, the client gets an RST
//     Delay later.
//
// Limits: the client's connect completes at once (the kernel answers the
// handshake before the relay sees the connection), so connection setup
// does not cost the round trip it would on a real path; and the relay
// reads as fast as it can, so a slow reader's backpressure reaches the
// sender only after 64 chunks are queued per direction.
//
// Use: NewRelay, then Serve (blocks, usually on its own goroutine), then
// Close (idempotent, safe at any time and from any goroutine): Close closes
// the listener and every relayed connection, and returns once Serve and
// every goroutine of the Relay have returned. A Relay is single-use.
type Relay struct {
	ln       net.Listener
	upstream string
	dial     DialFunc
	lat      Latency

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	once   sync.Once
}

// NewRelay returns a Relay that accepts on ln and relays to upstream,
// dialing it with dial (a net.Dialer's DialContext if nil; a Namespace's
// DialContext for an upstream inside a namespace). The Relay owns ln.
func NewRelay(ln net.Listener, upstream string, dial DialFunc, lat Latency) *Relay {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relay{
		ln: ln, upstream: upstream, dial: dial, lat: lat,
		ctx: ctx, cancel: cancel,
		conns: make(map[net.Conn]struct{}),
	}
}

// Addr returns the listener's address: the address to give clients (or a
// Service) instead of the upstream's.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Serve accepts and relays connections until Close. It returns nil after
// Close, or the listener's error. Call it once.
func (r *Relay) Serve() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.wg.Add(1) // Close waits for Serve
	r.mu.Unlock()
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if !r.track(c) {
			c.Close()
			return nil
		}
		r.wg.Go(func() { r.relay(c.(*net.TCPConn)) })
	}
}

// Close stops the Relay: the listener and every connection are closed
// (abruptly: data still delayed is dropped). It waits for Serve to return
// if Serve was called, and for every connection's goroutines.
func (r *Relay) Close() error {
	var err error
	r.once.Do(func() {
		r.cancel()
		err = r.ln.Close()
		r.mu.Lock()
		r.closed = true
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
	})
	r.wg.Wait()
	return err
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// piece is what travels one direction: data, or the end of the stream.
type piece struct {
	at   time.Time
	data []byte
	end  pieceEnd
}

type pieceEnd uint8

const (
	endNone pieceEnd = iota
	endFIN
	endRST
)

const (
	chunkSize  = 32 << 10
	queueDepth = 64
)

// relay owns one client connection: dial the upstream, then run one reader
// and one writer per direction until both directions are done.
func (r *Relay) relay(client *net.TCPConn) {
	defer r.untrack(client)
	accepted := time.Now()
	up2down := make(chan piece, queueDepth) // upstream -> client
	down2up := make(chan piece, queueDepth) // client -> upstream

	var wg sync.WaitGroup
	defer wg.Wait()
	// Read the client at once: its data and FIN are delayed from when
	// they are read, not from when the upstream is connected.
	wg.Go(func() { r.read(client, down2up) })

	// abort ends the client's connection before the upstream is
	// connected: the reader stops and what it queued is dropped.
	abort := func(rst bool) {
		if rst {
			reset(client)
		}
		client.Close()
		for range down2up {
		}
	}
	// The SYN reaches the upstream Delay after it left.
	if !r.sleepUntil(r.lat.next(accepted, time.Time{})) {
		abort(false)
		return
	}
	dialed := time.Now()
	uc, err := r.dial(r.ctx, "tcp", r.upstream)
	if err != nil {
		// The refusal (RST) travels back.
		abort(r.sleepUntil(r.lat.next(dialed, time.Time{})))
		return
	}
	upstream := uc.(*net.TCPConn)
	if !r.track(upstream) {
		upstream.Close()
		abort(false)
		return
	}
	defer r.untrack(upstream)

	wg.Go(func() { r.read(upstream, up2down) })
	done := make(chan struct{}, 2)
	wg.Go(func() { r.write(client, upstream, down2up); done <- struct{}{} })
	wg.Go(func() { r.write(upstream, client, up2down); done <- struct{}{} })
	<-done
	<-done
	client.Close()
	upstream.Close()
}

// read reads src until its end and queues what it reads, each piece with
// its delivery time. It closes q.
func (r *Relay) read(src *net.TCPConn, q chan<- piece) {
	defer close(q)
	var prev time.Time
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		now := time.Now()
		if n > 0 {
			prev = r.lat.next(now, prev)
			if !r.send(q, piece{at: prev, data: buf[:n]}) {
				return
			}
		}
		if err == nil {
			continue
		}
		end := endNone
		switch {
		case errors.Is(err, net.ErrClosed):
			// Closed by the relay: the other direction ended the connection.
		case errors.Is(err, syscall.ECONNRESET):
			end = endRST
		case errors.Is(err, io.EOF):
			end = endFIN
		default: // ETIMEDOUT, EHOSTUNREACH...: the connection died
			end = endRST
		}
		if end != endNone {
			r.send(q, piece{at: r.lat.next(now, prev), end: end})
		}
		return
	}
}

func (r *Relay) send(q chan<- piece, p piece) bool {
	select {
	case q <- p:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// write delivers the pieces of q to dst, each at its time. src is the
// connection q is read from: after an RST is delivered both are closed.
func (r *Relay) write(src, dst *net.TCPConn, q <-chan piece) {
	broken := false // dst failed a write: drop the rest of the data
	for p := range q {
		if !r.sleepUntil(p.at) {
			return
		}
		switch p.end {
		case endNone:
			if !broken {
				if _, err := dst.Write(p.data); err != nil {
					broken = true
				}
			}
		case endFIN:
			dst.CloseWrite()
			return
		case endRST:
			reset(dst)
			src.Close()
			return
		}
	}
	// q closed without an end: the relay closed src; end dst too.
	dst.Close()
}

// reset closes c with an RST instead of a FIN.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// sleepUntil waits until t; false if the Relay is closed first.
func (r *Relay) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return r.ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}
