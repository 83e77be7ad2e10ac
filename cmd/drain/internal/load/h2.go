package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 client (Config.Protocol h2c or h2): the steady load's requests
// are streams spread over a few connections (Config.H2Conns), as real h2
// clients multiplex. It is built on x/net/http2's Framer, not a Transport,
// so that nothing is retried: a stream the server refuses (RST_STREAM
// REFUSED_STREAM) or leaves unprocessed by a GOAWAY is recorded as such,
// never sent again, and a body is written once.

// Protocols for [Config.Protocol].
const (
	ProtocolH1  = "h1"  // HTTP/1.1 ("" too)
	ProtocolH2C = "h2c" // HTTP/2 in clear text, prior knowledge
	ProtocolH2  = "h2"  // HTTP/2 over TLS (ALPN h2); needs Request.TLS
)

// h2WindowStep is how many DATA bytes the client consumes before it gives
// them back to the connection's window (raised by 1 GiB at the start).
const h2WindowStep = 1 << 20

// DefaultH2Conns is the number of HTTP/2 connections the steady load's
// streams are spread over.
const DefaultH2Conns = 4

// errGoAway marks a stream the server's GOAWAY left unprocessed (its ID
// above the GOAWAY's last stream ID), or one the client could not open
// because the connection was going away.
var errGoAway = errors.New("http2: GOAWAY, stream not processed")

// errRefusedStream is a stream reset with REFUSED_STREAM.
var errRefusedStream = errors.New("http2: stream refused (REFUSED_STREAM)")

// h2Conn is one HTTP/2 connection; its read loop answers the streams.
type h2Conn struct {
	nc      net.Conn
	id      uint32
	replica int32
	fr      *http2.Framer

	unacked uint32 // DATA bytes not yet given back to the connection's window (read loop only)

	wmu    sync.Mutex // writes: the framer, the encoder
	enc    *hpack.Encoder
	encBuf bytes.Buffer

	mu      sync.Mutex
	streams map[uint32]chan h2Answer
	next    uint32 // next stream ID (odd)
	goaway  bool   // no new streams
	dead    error  // the read loop ended with this
	done    chan struct{}
}

// h2Answer ends one stream: a status, or the error that ended it.
type h2Answer struct {
	status int
	err    error
}

// dialH2 opens an HTTP/2 connection to a picked endpoint.
func (r *run) dialH2(deadline time.Time) (*h2Conn, uint32, int32, error) {
	c, id, replica, err := r.dial(endpoint.Endpoint{}, true, deadline)
	if err != nil {
		return nil, id, replica, err
	}
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol != "h2" {
		r.closeConn(c)
		return nil, id, replica, fmt.Errorf("%w: the server did not agree to h2 (ALPN %q)", errTLS, tc.ConnectionState().NegotiatedProtocol)
	}
	h := &h2Conn{nc: nc, id: id, replica: replica, streams: map[uint32]chan h2Answer{}, next: 1, done: make(chan struct{})}
	// Frames are read through a buffer (the framer reads a frame's header
	// and payload separately: two system calls per frame without one) and,
	// on plain TCP on Linux, with raw system calls (fast_linux.go).
	var rd io.Reader = nc
	var wr io.Writer = nc
	if f, w := newFastIO(nc), newRawWriter(nc); f != nil && w != nil {
		rd, wr = f, w
	}
	h.fr = http2.NewFramer(wr, bufio.NewReaderSize(rd, 16<<10))
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.encBuf)
	nc.SetDeadline(deadline)
	if _, err := nc.Write([]byte(http2.ClientPreface)); err == nil {
		err = h.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		if err == nil {
			err = h.fr.WriteWindowUpdate(0, 1<<30)
		}
		if err != nil {
			r.closeConn(c)
			return nil, id, replica, err
		}
	} else {
		r.closeConn(c)
		return nil, id, replica, err
	}
	nc.SetDeadline(time.Time{})
	go h.readLoop()
	return h, id, replica, nil
}

// usable reports whether a new stream may go on h.
func (h *h2Conn) usable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dead == nil && !h.goaway && h.next < 1<<30
}

// roundTrip sends one request as a new stream and waits for its end
// until deadline. It never retries.
func (h *h2Conn) roundTrip(q *Request, method, authority string, deadline time.Time) (int, error) {
	ch := make(chan h2Answer, 1)
	body := hasBody(method)
	h.wmu.Lock()
	h.mu.Lock()
	if h.dead != nil || h.goaway {
		err := h.dead
		if err == nil {
			err = errGoAway
		}
		h.mu.Unlock()
		h.wmu.Unlock()
		return 0, err
	}
	sid := h.next
	h.next += 2
	h.streams[sid] = ch
	h.mu.Unlock()
	path := q.Path
	if path == "" {
		path = "/"
	}
	if q.Host != "" {
		authority = q.Host
	}
	h.encBuf.Reset()
	scheme := "http"
	if _, ok := h.nc.(*tls.Conn); ok {
		scheme = "https"
	}
	for _, f := range [][2]string{{":method", method}, {":scheme", scheme}, {":authority", authority}, {":path", path}, {"user-agent", "drain-load"}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for _, hf := range q.Header {
		name, value, _ := SplitHeader(hf)
		h.enc.WriteField(hpack.HeaderField{Name: strings.ToLower(name), Value: value})
	}
	if body {
		h.enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain"})
		h.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(postBody))})
	}
	h.nc.SetWriteDeadline(deadline)
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: h.encBuf.Bytes(), EndStream: !body, EndHeaders: true})
	if err == nil && body {
		err = h.fr.WriteData(sid, true, []byte(postBody)) // once: never re-sent
	}
	h.wmu.Unlock()
	if err != nil {
		h.fail(err)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case a := <-ch:
		return a.status, a.err
	case <-t.C:
		h.mu.Lock()
		delete(h.streams, sid)
		h.mu.Unlock()
		h.wmu.Lock()
		h.fr.WriteRSTStream(sid, http2.ErrCodeCancel)
		h.wmu.Unlock()
		return 0, context.DeadlineExceeded
	}
}

// end answers stream sid, once.
func (h *h2Conn) end(sid uint32, a h2Answer) {
	h.mu.Lock()
	ch, ok := h.streams[sid]
	delete(h.streams, sid)
	h.mu.Unlock()
	if ok {
		ch <- a
	}
}

// fail ends the connection: every open stream gets err.
func (h *h2Conn) fail(err error) {
	h.mu.Lock()
	if h.dead == nil {
		h.dead = err
	}
	streams := h.streams
	h.streams = map[uint32]chan h2Answer{}
	h.mu.Unlock()
	for _, ch := range streams {
		ch <- h2Answer{err: err}
	}
	h.nc.Close()
}

// readLoop reads frames until the connection fails.
func (h *h2Conn) readLoop() {
	defer close(h.done)
	status := map[uint32]int{}
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.fail(err)
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.wmu.Lock()
				h.fr.WriteSettingsAck()
				h.wmu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.wmu.Lock()
				h.fr.WritePing(true, f.Data)
				h.wmu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			st, _ := strconv.Atoi(f.PseudoValue("status"))
			if st >= 100 && st < 200 {
				continue // informational
			}
			status[f.StreamID] = st
			if f.StreamEnded() {
				h.end(f.StreamID, h2Answer{status: st})
				delete(status, f.StreamID)
			}
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 {
				// The connection's window was raised by 1 GiB at the
				// start: give it back in 1 MiB steps, not one
				// WINDOW_UPDATE (a write) per DATA frame.
				h.unacked += uint32(n)
				conn := h.unacked >= h2WindowStep
				if conn || !f.StreamEnded() {
					h.wmu.Lock()
					if conn {
						h.fr.WriteWindowUpdate(0, h.unacked)
						h.unacked = 0
					}
					if !f.StreamEnded() {
						h.fr.WriteWindowUpdate(f.StreamID, uint32(n))
					}
					h.wmu.Unlock()
				}
			}
			if f.StreamEnded() {
				h.end(f.StreamID, h2Answer{status: status[f.StreamID]})
				delete(status, f.StreamID)
			}
		case *http2.RSTStreamFrame:
			err := error(fmt.Errorf("http2: stream reset (%v)", f.ErrCode))
			if f.ErrCode == http2.ErrCodeRefusedStream {
				err = errRefusedStream
			}
			h.end(f.StreamID, h2Answer{err: err})
			delete(status, f.StreamID)
		case *http2.GoAwayFrame:
			h.mu.Lock()
			h.goaway = true
			var unprocessed []chan h2Answer
			for sid, ch := range h.streams {
				if sid > f.LastStreamID {
					unprocessed = append(unprocessed, ch)
					delete(h.streams, sid)
				}
			}
			h.mu.Unlock()
			for _, ch := range unprocessed {
				ch <- h2Answer{err: errGoAway}
			}
		}
	}
}

// h2Pool is the steady load's few HTTP/2 connections; slot i serves the
// requests n with n % len(slots) == i.
type h2Pool struct {
	mu    []sync.Mutex
	slots []*h2Conn

	allMu sync.Mutex
	all   []*h2Conn // every connection opened, to close at the end
}

// doH2 sends steady request res over the pool and fills res in.
func (r *run) doH2(res *Result, method string, deadline time.Time) {
	now := time.Now()
	res.Sent = r.since(now)
	if !now.Before(deadline) {
		res.Done, res.Outcome = res.Sent, Timeout
		return
	}
	p := r.h2
	i := int(res.Seq % uint64(len(p.slots)))
	p.mu[i].Lock()
	h := p.slots[i]
	if h == nil || !h.usable() {
		var err error
		var id uint32
		var replica int32
		res.NewConn = true
		h, id, replica, err = r.dialH2(deadline)
		if err != nil {
			p.mu[i].Unlock()
			res.Conn, res.Replica = id, replica
			res.Done, res.Outcome = r.since(time.Now()), classifyH2(err)
			return
		}
		p.slots[i] = h
		p.allMu.Lock()
		p.all = append(p.all, h)
		p.allMu.Unlock()
	}
	p.mu[i].Unlock()
	res.Conn, res.Replica = h.id, h.replica
	status, err := h.roundTrip(&r.cfg.Request, method, h.nc.RemoteAddr().String(), deadline)
	res.Done = r.since(time.Now())
	if err != nil {
		res.Outcome = classifyH2(err)
		return
	}
	res.Status = uint16(status)
	res.Outcome = statusOutcome(status, r.cfg.Request.Expect)
}

// closeH2 closes the pool's connections and waits for their read loops.
func (r *run) closeH2() {
	r.h2.allMu.Lock()
	defer r.h2.allMu.Unlock()
	for _, h := range r.h2.all {
		h.nc.Close()
		<-h.done
	}
}

func classifyH2(err error) Outcome {
	switch {
	case errors.Is(err, errGoAway):
		return GoAway
	case errors.Is(err, errRefusedStream):
		return RefusedStream
	}
	return classify(err)
}
