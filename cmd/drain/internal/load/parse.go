package load

import (
	"bytes"
	"errors"
	"io"
)

// The response parser: a small hand-written HTTP/1.x response reader that
// keeps one buffer per connection and allocates nothing per response. It
// reads exactly one response (skipping 1xx interim responses) and discards
// the body; the load client only needs the status, whether the body was
// complete, and whether the connection may be reused.

const (
	readBufSize = 4 << 10  // initial per-connection read buffer
	maxHeadSize = 64 << 10 // a longer response head is malformed
)

var (
	// errMalformed is a response the client cannot parse: Outcome Other.
	errMalformed = errors.New("load: malformed HTTP response")
	// errIncomplete means the buffer does not yet hold a whole head.
	errIncomplete = errors.New("load: incomplete response head")
)

// respHead is what the client needs from a response head.
type respHead struct {
	status        int
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // Connection: close, or HTTP/1.0 without keep-alive
}

// bodyless reports whether the response has no body whatever its headers
// say (RFC 9112 section 6.3).
func (h *respHead) bodyless() bool {
	return h.status < 200 || h.status == 204 || h.status == 304
}

// respReader reads responses from rd through a buffer it owns.
type respReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread bytes are buf[r:w]
	eof  bool
}

func (rr *respReader) reset(rd io.Reader) {
	rr.rd = rd
	if rr.buf == nil {
		rr.buf = make([]byte, readBufSize)
	}
	rr.r, rr.w, rr.eof = 0, 0, false
}

// buffered returns the number of unread bytes.
func (rr *respReader) buffered() int { return rr.w - rr.r }

// fill reads more bytes into the buffer, compacting or growing it (up to
// maxHeadSize) first if it is full. It returns io.ErrUnexpectedEOF when the
// peer closed with a partial response in the buffer and io.EOF when it
// closed with nothing unread.
func (rr *respReader) fill() error {
	if rr.eof {
		if rr.buffered() > 0 {
			return io.ErrUnexpectedEOF
		}
		return io.EOF
	}
	if rr.r > 0 && rr.w == len(rr.buf) {
		n := copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r, rr.w = 0, n
	}
	if rr.w == len(rr.buf) {
		if len(rr.buf) >= maxHeadSize {
			return errMalformed
		}
		nb := make([]byte, 2*len(rr.buf))
		copy(nb, rr.buf[rr.r:rr.w])
		rr.r, rr.w, rr.buf = 0, rr.w-rr.r, nb
	}
	for range 100 { // io.Reader allows (0, nil); don't spin forever on it
		n, err := rr.rd.Read(rr.buf[rr.w:])
		rr.w += n
		if err == io.EOF {
			rr.eof = true
			if n > 0 {
				return nil
			}
			if rr.buffered() > 0 {
				return io.ErrUnexpectedEOF
			}
			return io.EOF
		}
		if n > 0 || err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// readResponse reads one whole response, discarding its body. A response
// that is cut short (peer closed) is io.EOF or io.ErrUnexpectedEOF: io.EOF
// only when not a single byte of it arrived.
func (rr *respReader) readResponse() (h respHead, err error) {
	for {
		h, err = rr.readHead()
		if err != nil {
			return h, err
		}
		if h.status >= 100 && h.status < 200 {
			if h.status == 101 { // we never ask to switch protocols
				return h, errMalformed
			}
			continue // an interim response: the final one follows
		}
		break
	}
	switch {
	case h.bodyless():
	case h.chunked:
		err = rr.discardChunked()
	case h.contentLength >= 0:
		err = rr.discard(h.contentLength)
	default: // the body runs to the end of the connection
		h.close = true
		err = rr.discardToEOF()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the head arrived, so the response was cut
	}
	return h, err
}

func (rr *respReader) readHead() (respHead, error) {
	searched := 0 // rr.buf[rr.r:][:searched] holds no end of head
	for {
		if headEnd(rr.buf[rr.r:rr.w], searched) >= 0 {
			h, n, err := parseHead(rr.buf[rr.r:rr.w])
			rr.r += n
			return h, err
		}
		if rr.buffered() >= maxHeadSize {
			return respHead{}, errMalformed
		}
		searched = rr.buffered()
		if err := rr.fill(); err != nil {
			return respHead{}, err
		}
	}
}

func (rr *respReader) discard(n int64) error {
	for {
		if b := int64(rr.buffered()); b >= n {
			rr.r += int(n)
			return nil
		} else {
			n -= b
			rr.r, rr.w = 0, 0
		}
		if err := rr.fill(); err != nil {
			return err
		}
	}
}

func (rr *respReader) discardToEOF() error {
	for {
		rr.r, rr.w = 0, 0
		if err := rr.fill(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// line returns the next line without its line ending, consuming it.
func (rr *respReader) line() ([]byte, error) {
	searched := 0 // rr.buf[rr.r:][:searched] holds no '\n'
	for {
		if i := bytes.IndexByte(rr.buf[rr.r+searched:rr.w], '\n'); i >= 0 {
			i += searched
			l := rr.buf[rr.r : rr.r+i]
			rr.r += i + 1
			return trimCR(l), nil
		}
		if rr.buffered() >= maxHeadSize {
			return nil, errMalformed
		}
		searched = rr.buffered()
		if err := rr.fill(); err != nil {
			return nil, err
		}
	}
}

func (rr *respReader) discardChunked() error {
	for {
		l, err := rr.line()
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(l)
		if !ok {
			return errMalformed
		}
		if size == 0 {
			break
		}
		if err := rr.discard(size); err != nil {
			return err
		}
		l, err = rr.line()
		if err != nil {
			return err
		}
		if len(l) != 0 {
			return errMalformed
		}
	}
	for { // the trailer section ends with an empty line
		l, err := rr.line()
		if err != nil {
			return err
		}
		if len(l) == 0 {
			return nil
		}
		if bytes.IndexByte(l, ':') <= 0 {
			return errMalformed
		}
	}
}

// parseChunkSize parses "hex[;ext]" with optional whitespace before ';'.
func parseChunkSize(l []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if n > (1<<62)>>4 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	for ; i < len(l) && (l[i] == ' ' || l[i] == '\t'); i++ {
	}
	if i < len(l) && l[i] != ';' {
		return 0, false
	}
	return n, true
}

func trimCR(l []byte) []byte {
	if len(l) > 0 && l[len(l)-1] == '\r' {
		return l[:len(l)-1]
	}
	return l
}

// headEnd returns the length of the head at the start of b (up to and
// including the empty line that ends it), or -1 if b holds no whole head.
// The search starts near from: the caller knows b[:from] holds no end.
func headEnd(b []byte, from int) int {
	i := max(from-2, 0)
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// parseHead parses the response head (status line and header fields) at the
// start of b and returns the number of bytes it used. It returns
// errIncomplete while b does not hold the whole head yet, and errMalformed
// for a head it cannot accept. It allocates nothing.
func parseHead(b []byte) (h respHead, n int, err error) {
	h.contentLength = -1
	end := headEnd(b, 0)
	if end < 0 {
		if len(b) >= maxHeadSize {
			return h, 0, errMalformed
		}
		return h, 0, errIncomplete
	}
	head := b[:end]

	// Status line: HTTP/1.x SP 3DIGIT [SP reason]
	i := bytes.IndexByte(head, '\n')
	sl := trimCR(head[:i])
	head = head[i+1:]
	if len(sl) < 12 || string(sl[:7]) != "HTTP/1." || sl[7] < '0' || sl[7] > '9' || sl[8] != ' ' {
		return h, 0, errMalformed
	}
	http10 := sl[7] == '0'
	for _, c := range sl[9:12] {
		if c < '0' || c > '9' {
			return h, 0, errMalformed
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 100 || (len(sl) > 12 && sl[12] != ' ') {
		return h, 0, errMalformed
	}

	keepAlive := false
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		l := trimCR(head[:i])
		head = head[i+1:]
		if len(l) == 0 {
			break // the empty line that ends the head
		}
		c := bytes.IndexByte(l, ':')
		if c <= 0 || l[0] == ' ' || l[0] == '\t' || l[c-1] == ' ' || l[c-1] == '\t' {
			return h, 0, errMalformed // includes obsolete line folding
		}
		name, value := l[:c], trimSpace(l[c+1:])
		switch {
		case equalFold(name, "content-length"):
			cl, ok := parseDecimal(value)
			if !ok || (h.contentLength >= 0 && h.contentLength != cl) {
				return h, 0, errMalformed
			}
			h.contentLength = cl
		case equalFold(name, "transfer-encoding"):
			// Only chunked is supported, and it must come last.
			last := value
			if k := bytes.LastIndexByte(value, ','); k >= 0 {
				last = trimSpace(value[k+1:])
			}
			if !equalFold(last, "chunked") {
				return h, 0, errMalformed
			}
			h.chunked = true
		case equalFold(name, "connection"):
			for len(value) > 0 {
				tok := value
				k := bytes.IndexByte(value, ',')
				if k >= 0 {
					tok, value = value[:k], value[k+1:]
				} else {
					value = nil
				}
				tok = trimSpace(tok)
				switch {
				case equalFold(tok, "close"):
					h.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if h.chunked {
		h.contentLength = -1 // Transfer-Encoding overrides Content-Length
	}
	if http10 && !keepAlive {
		h.close = true
	}
	return h, end, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
