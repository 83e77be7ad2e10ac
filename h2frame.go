package drain

import (
	"bytes"
	"encoding/binary"
)

// The graceful HTTP/2 shutdown of RFC 9113 §6.8 for h2c connections, which
// net/http's HTTP/2 server does not do: its GOAWAY (from Shutdown, or from a
// "Connection: close" response) carries the highest stream id it has
// processed, so streams the client opened while that GOAWAY was on the wire
// are refused, and a client that cannot re-send their bodies loses them.
// The two-step sequence is: GOAWAY with the largest stream id (the client
// opens no new stream on the connection, and loses none), a PING, and once
// its ACK is back (every stream the client opened before it has arrived)
// the server's own GOAWAY.
//
// On h2c connections the library sees the frames in clear, so it sends the
// first GOAWAY and the PING itself, inserted between two of the server's
// frames, and watches the client's frames for the ACK. Over TLS it sees
// only ciphertext and cannot.

// HTTP/2 frame types and flags used here (RFC 9113 §6).
const (
	frameHeaders      = 0x1
	framePushPromise  = 0x5
	framePing         = 0x6
	frameContinuation = 0x9
	flagAck           = 0x1
	flagEndHeaders    = 0x4
	frameHeaderLen    = 9
)

// goAwayPing is what the library inserts: GOAWAY(last stream 2^31-1,
// NO_ERROR) and a PING whose ACK tells that the client has read it.
var goAwayPing = []byte{
	0, 0, 8, 0x7, 0, 0, 0, 0, 0, // GOAWAY, length 8, stream 0
	0x7f, 0xff, 0xff, 0xff, // last stream id 2^31-1
	0, 0, 0, 0, // NO_ERROR
	0, 0, 8, framePing, 0, 0, 0, 0, 0, // PING, length 8, stream 0
	'd', 'r', 'a', 'i', 'n', 'g', 'o', 'a',
}

var pingData = goAwayPing[len(goAwayPing)-8:]

// frameScanner follows the frame boundaries of one direction of an HTTP/2
// connection, fed in pieces of any size. The zero value expects a frame
// header; set preface to skip the client's connection preface first.
type frameScanner struct {
	preface int // bytes of the connection preface still to skip
	hdr     [frameHeaderLen]byte
	hdrN    int  // header bytes collected (frameHeaderLen: in the payload)
	left    int  // payload bytes left in the current frame
	block   bool // inside a header block: only CONTINUATION may follow
	payload [8]byte
	payN    int

	// What the client side needs (see trackedConn.Read).
	pingAcked bool   // the ACK of our PING has been read
	maxStream uint32 // highest client stream id opened by HEADERS
	opened    int    // streams opened by HEADERS
}

// atBoundary reports whether a frame of our own may be inserted here: between
// two frames, and not inside a header block.
func (s *frameScanner) atBoundary() bool {
	return s.preface == 0 && s.hdrN == 0 && s.left == 0 && !s.block
}

// next consumes p up to the end of the current frame (or of p) and returns
// how many bytes it consumed: at least one when p is not empty.
func (s *frameScanner) next(p []byte) int {
	if s.preface > 0 {
		k := min(s.preface, len(p))
		s.preface -= k
		return k
	}
	i := 0
	if s.hdrN < frameHeaderLen {
		k := copy(s.hdr[s.hdrN:], p)
		s.hdrN += k
		i += k
		if s.hdrN < frameHeaderLen {
			return i
		}
		s.left = int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
		s.payN = 0
		if s.left == 0 {
			s.finish()
			return i
		}
	}
	k := min(s.left, len(p)-i)
	if s.payN < len(s.payload) {
		s.payN += copy(s.payload[s.payN:], p[i:i+k])
	}
	s.left -= k
	i += k
	if s.left == 0 {
		s.finish()
	}
	return i
}

// scan consumes all of p.
func (s *frameScanner) scan(p []byte) {
	for len(p) > 0 {
		p = p[s.next(p):]
	}
}

// finish ends the current frame.
func (s *frameScanner) finish() {
	typ, flags := s.hdr[3], s.hdr[4]
	stream := binary.BigEndian.Uint32(s.hdr[5:]) & 0x7fffffff
	s.hdrN = 0
	switch typ {
	case frameHeaders:
		if stream > s.maxStream {
			s.maxStream = stream
			s.opened++
		}
		s.block = flags&flagEndHeaders == 0
	case framePushPromise, frameContinuation:
		s.block = flags&flagEndHeaders == 0
	case framePing:
		if flags&flagAck != 0 && s.payN == 8 && bytes.Equal(s.payload[:], pingData) {
			s.pingAcked = true
		}
	}
}
