package proxy

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
)

// Listener wraps ln so that every accepted connection checks the framing of
// each HTTP/1.x request before net/http parses it, and turns any request
// whose length could be read two ways into a 400 Bad Request that closes the
// connection. net/http is lenient where RFC 9112 allows it (it takes
// Transfer-Encoding over a conflicting Content-Length, ignores
// Transfer-Encoding in HTTP/1.0, accepts a bare LF as line end and repeated
// identical Content-Length fields); a front-end proxy may read the same
// bytes differently, and that difference is request smuggling. Listener
// rejects, in the request line, the header section and the chunked framing:
//
//   - a line ending in a bare LF, or a CR not followed by LF;
//   - control characters (NUL, ...) in the request line or a field;
//   - obsolete line folding (a field line starting with a space or tab),
//     whitespace or any non-token character in a field name;
//   - Content-Length that is not a plain decimal, or that appears twice
//     (even with equal values), or in a comma list;
//   - Transfer-Encoding other than a single "chunked", Transfer-Encoding
//     together with Content-Length, or in an HTTP/1.0 request;
//   - a malformed chunk-size line or a chunk not followed by CRLF.
//
// It does not buffer: it follows each request's framing as the bytes pass,
// hands net/http every byte before the bad one and then a byte net/http
// itself rejects, so the 400 goes out in order after the responses to the
// earlier, valid requests on the connection. After an HTTP/2 preface or a
// request asking to switch protocols (Upgrade), the connection is no
// longer checked; [Proxy] closes it after any response but a 101.
//
// Rejected counts the connections it cut.
func Listener(ln net.Listener, log *slog.Logger) *StrictListener {
	if log == nil {
		log = slog.Default()
	}
	return &StrictListener{Listener: ln, log: log}
}

// StrictListener is the listener returned by [Listener].
type StrictListener struct {
	net.Listener
	log      *slog.Logger
	rejected atomic.Uint64
}

// Accept returns the next connection, wrapped.
func (l *StrictListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &strictConn{Conn: c, l: l}, nil
}

// Rejected reports how many requests were rejected as ambiguous.
func (l *StrictListener) Rejected() uint64 { return l.rejected.Load() }

// poison is what net/http reads instead of a rejected request: a NUL makes
// a request line, a field line or a chunk-size line invalid, so net/http
// answers 400 and closes the connection (or fails the body read).
var poison = []byte("\x00\r\n\r\n")

type strictConn struct {
	net.Conn
	l      *StrictListener
	s      scanner
	bad    bool // rejected: hand out the rest of poison, then EOF
	poison []byte
}

func (c *strictConn) Read(p []byte) (int, error) {
	if c.bad {
		if len(c.poison) == 0 {
			return 0, io.EOF
		}
		n := copy(p, c.poison)
		c.poison = c.poison[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if m := c.filter(p, n); c.bad {
			return m, nil
		}
	}
	return n, err
}

// filter checks p[:n], bytes just read from the socket, and returns how
// many of p to pass on: all n, or, when they hold a rejected request, the
// bytes before it and the start of poison (Read hands out the rest).
// The fast path calls it for its own raw reads.
func (c *strictConn) filter(p []byte, n int) int {
	i, why := c.s.scan(p[:n])
	if why == "" {
		return n
	}
	c.bad = true
	c.poison = poison
	c.l.rejected.Add(1)
	c.l.log.Warn("drain exec: rejected an ambiguous request", "remote", c.RemoteAddr().String(), "reason", why)
	k := copy(p[i:], c.poison)
	c.poison = c.poison[k:]
	return i + k
}

// rejected reports whether a request on c has been rejected: from then on
// its bytes come from Read alone.
func (c *strictConn) rejected() bool { return c.bad }

// CloseWrite and SyscallConn expose the TCP connection to net/http and the
// drain library (which look for them).
func (c *strictConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *strictConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, syscall.EINVAL
}

// scanner states.
const (
	sReqLine   = iota // in the request line
	sFieldLine        // at the start of a field line (or the end of the section)
	sFieldName
	sFieldValue
	sLF        // after a CR: LF must follow
	sBody      // Content-Length bytes to skip
	sChunkSize // in a chunk-size line: hex digits
	sChunkExt  // after the size, in BWS or a chunk extension
	sChunkData // chunk bytes to skip
	sChunkCR   // CR after chunk data
	sChunkLF   // LF after chunk data
	sOpaque    // no longer HTTP/1 (h2c, upgrade)
)

// what the line ending in sLF belonged to
const (
	inReqLine = iota
	inField
	inChunkSize
)

// scanner follows HTTP/1.1 request framing byte by byte (RFC 9112).
type scanner struct {
	state   int
	lineOf  int // for sLF
	n       int64
	trailer bool // the field section is a chunked trailer

	// request line
	spaces  int
	method  [8]byte
	mlen    int
	version [9]byte
	vlen    int
	later   bool // not the first request on the connection

	// the current field
	name    [24]byte
	nlen    int
	nameBad bool // longer than name: not one we track
	val     [24]byte
	vallen  int
	kind    int // fieldOther, fieldCL, fieldTE, fieldUpgrade

	// the section so far
	clCount int
	cl      int64
	teCount int
	upgrade bool

	// chunked
	digits int
}

const (
	fieldOther = iota
	fieldCL
	fieldTE
	fieldUpgrade
)

func isTchar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isFieldChar reports whether b may appear in a field value (VCHAR, SP,
// HTAB, obs-text).
func isFieldChar(b byte) bool { return b == '\t' || (b >= 0x20 && b != 0x7f) }

func hexVal(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

func lowerEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
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

// scan consumes p. If p holds a framing error, it returns the offset of the
// first byte not to hand to net/http and the reason; else (len(p), "").
func (s *scanner) scan(p []byte) (int, string) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.state {
		case sOpaque:
			return len(p), ""

		case sBody:
			k := int64(len(p) - i)
			if k > s.n {
				k = s.n
			}
			s.n -= k
			i += int(k) - 1
			if s.n == 0 {
				s.startRequest()
			}

		case sChunkData:
			k := int64(len(p) - i)
			if k > s.n {
				k = s.n
			}
			s.n -= k
			i += int(k) - 1
			if s.n == 0 {
				s.state = sChunkCR
			}

		case sChunkCR:
			if b != '\r' {
				return i, "chunk data not followed by CRLF"
			}
			s.state = sChunkLF
		case sChunkLF:
			if b != '\n' {
				return i, "chunk data not followed by CRLF"
			}
			s.state, s.digits, s.n = sChunkSize, 0, 0

		case sLF:
			if b != '\n' {
				return i, "CR not followed by LF"
			}
			if why := s.endLine(); why != "" {
				// Hand over nothing of the line end: the poison ends it.
				return max(i-1, 0), why
			}

		case sReqLine:
			switch {
			case b == '\r':
				if why := s.checkReqLine(); why != "" {
					return i, why
				}
				s.state, s.lineOf = sLF, inReqLine
			case b == '\n':
				return i, "bare LF in the request line"
			case b == ' ':
				s.spaces++
				if s.spaces > 2 {
					return i, "extra space in the request line"
				}
			case b < 0x21 || b == 0x7f:
				return i, "control character in the request line"
			default:
				switch s.spaces {
				case 0:
					if !isTchar(b) {
						return i, "invalid method"
					}
					if s.mlen < len(s.method) {
						s.method[s.mlen] = b
					}
					s.mlen++
				case 2:
					if s.vlen < len(s.version) {
						s.version[s.vlen] = b
					}
					s.vlen++
				}
			}

		case sFieldLine:
			switch {
			case b == '\r':
				s.state, s.lineOf = sLF, inField
				s.nlen = -1 // end of section
				continue
			case b == '\n':
				return i, "bare LF in the field section"
			case b == ' ' || b == '\t':
				return i, "obsolete line folding"
			case !isTchar(b):
				return i, "invalid character in a field name"
			}
			s.nlen, s.nameBad, s.vallen, s.kind = 0, false, 0, fieldOther
			s.state = sFieldName
			fallthrough
		case sFieldName:
			switch {
			case b == ':':
				if s.nlen == 0 {
					return i, "empty field name"
				}
				if !s.nameBad && !s.trailer {
					n := s.name[:s.nlen]
					switch {
					case lowerEq(n, "content-length"):
						s.kind = fieldCL
						s.clCount++
					case lowerEq(n, "transfer-encoding"):
						s.kind = fieldTE
						s.teCount++
					case lowerEq(n, "upgrade"):
						s.kind = fieldUpgrade
						s.upgrade = true
					}
				}
				s.state = sFieldValue
			case isTchar(b):
				if s.nlen < len(s.name) {
					s.name[s.nlen] = b
				} else {
					s.nameBad = true
				}
				s.nlen++
			case b == '\n':
				return i, "bare LF in a field name"
			default:
				return i, "invalid character in a field name"
			}

		case sFieldValue:
			switch {
			case b == '\r':
				s.state, s.lineOf = sLF, inField
			case b == '\n':
				return i, "bare LF in a field value"
			case !isFieldChar(b):
				return i, "control character in a field value"
			case s.kind == fieldCL || s.kind == fieldTE:
				if (b == ' ' || b == '\t') && s.vallen == 0 {
					continue // leading OWS
				}
				if s.vallen < len(s.val) {
					s.val[s.vallen] = b
				}
				s.vallen++
			}

		case sChunkSize:
			switch {
			case hexVal(b) >= 0:
				s.digits++
				if s.digits > 15 {
					return i, "chunk size too large"
				}
				s.n = s.n<<4 | int64(hexVal(b))
			case s.digits == 0:
				return i, "invalid chunk size"
			case b == '\r':
				s.state, s.lineOf = sLF, inChunkSize
			case b == ';' || b == ' ' || b == '\t':
				s.state = sChunkExt
			default:
				return i, "invalid chunk size"
			}
		case sChunkExt:
			switch {
			case b == '\r':
				s.state, s.lineOf = sLF, inChunkSize
			case b == '\n':
				return i, "bare LF in a chunk-size line"
			case !isFieldChar(b):
				return i, "control character in a chunk extension"
			}
		}
	}
	return len(p), ""
}

func (s *scanner) startRequest() {
	*s = scanner{state: sReqLine, later: true}
}

func (s *scanner) checkReqLine() string {
	if s.spaces != 2 || s.mlen == 0 {
		return "malformed request line"
	}
	v := s.version[:min(s.vlen, len(s.version))]
	switch string(v) {
	case "HTTP/1.1", "HTTP/1.0":
	case "HTTP/2.0":
		if string(s.method[:min(s.mlen, len(s.method))]) == "PRI" && !s.later {
			return "" // h2c preface: endLine switches to opaque
		}
		return "unexpected HTTP/2.0"
	default:
		return "unsupported HTTP version"
	}
	return ""
}

// endLine runs at the LF of a CRLF.
func (s *scanner) endLine() string {
	switch s.lineOf {
	case inReqLine:
		if string(s.version[:min(s.vlen, len(s.version))]) == "HTTP/2.0" {
			s.state = sOpaque
			return ""
		}
		s.state = sFieldLine
		return ""
	case inChunkSize:
		if s.n == 0 {
			// last chunk: a trailer section follows
			s.trailer = true
			s.state = sFieldLine
			return ""
		}
		s.state = sChunkData
		return ""
	}
	if s.nlen >= 0 {
		// end of a field line
		if why := s.endField(); why != "" {
			return why
		}
		s.state = sFieldLine
		return ""
	}
	// end of the field section
	if s.trailer {
		s.startRequest()
		return ""
	}
	return s.endHeaders()
}

func (s *scanner) endField() string {
	v := s.val[:min(s.vallen, len(s.val))]
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	switch s.kind {
	case fieldCL:
		if s.clCount > 1 {
			return "more than one Content-Length"
		}
		if len(v) == 0 || len(v) > 18 || s.vallen > len(s.val) {
			return "invalid Content-Length"
		}
		var n int64
		for _, d := range v {
			if d < '0' || d > '9' {
				return "invalid Content-Length"
			}
			n = n*10 + int64(d-'0')
		}
		s.cl = n
	case fieldTE:
		if s.teCount > 1 {
			return "more than one Transfer-Encoding"
		}
		if !lowerEq(v, "chunked") {
			return "Transfer-Encoding other than chunked"
		}
	}
	return ""
}

func (s *scanner) endHeaders() string {
	http10 := string(s.version[:min(s.vlen, len(s.version))]) == "HTTP/1.0"
	switch {
	case s.teCount > 0 && s.clCount > 0:
		return "both Transfer-Encoding and Content-Length"
	case s.teCount > 0 && http10:
		return "Transfer-Encoding in an HTTP/1.0 request"
	}
	switch {
	case s.teCount > 0:
		upgrade := s.upgrade
		*s = scanner{state: sChunkSize, later: true, upgrade: upgrade}
		if upgrade {
			s.state = sOpaque // rare; net/http still checks the chunks
		}
	case s.cl > 0:
		if s.upgrade {
			s.state = sOpaque
			return ""
		}
		n := s.cl
		*s = scanner{state: sBody, n: n, later: true}
	default:
		if s.upgrade {
			s.state = sOpaque
			return ""
		}
		s.startRequest()
	}
	return ""
}
