package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// span is a part of a request head: head[s:e].
type span struct{ s, e int }

// Field kinds in a fast request.
const (
	kindForward uint8 = iota // sent as is
	kindSkip                 // never sent (hop-by-hop, or rewritten)
	kindXFF                  // X-Forwarded-For: prior values, when trusted
	kindTrusted              // X-Forwarded-Host/-Proto, Forwarded: only when trusted
	kindTE                   // TE: "trailers" is passed on
)

// fastReq is a parsed request head the fast path serves. Its spans point
// into head, which is valid until the connection's reader reads again.
type fastReq struct {
	head       []byte
	method     span
	target     span
	host       span
	length     int64 // -1: no Content-Length field
	closeConn  bool  // the client asked to close after the response
	isHead     bool
	hasXFHost  bool
	hasXFProto bool
	nfields    int
	fields     [fastMaxFields]struct {
		line, name, value span
		kind              uint8
	}
	nconn int
	conn  [8]span // field names listed in Connection

	// The method, kept for logs: the head's bytes may be overwritten
	// once the body is read.
	methodBuf [16]byte
	methodLen int
}

func (r *fastReq) methodName() string { return string(r.methodBuf[:r.methodLen]) }

func (r *fastReq) b(s span) []byte { return r.head[s.s:s.e] }

// parse parses head (request line to the empty line, CRLF line endings)
// and reports whether the fast path serves it.
func (r *fastReq) parse(head []byte, readyPath string) bool {
	r.head, r.length, r.nfields, r.nconn = head, -1, 0, 0
	r.host = span{}
	eol := bytes.Index(head, crlf)
	line := head[:eol]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !validFieldName(line[:sp]) {
		return false
	}
	r.method = span{0, sp}
	if sp > len(r.methodBuf) {
		return false
	}
	r.methodLen = copy(r.methodBuf[:], line[:sp])
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" || rest[0] != '/' || hasSpaceOrCTL(string(rest[:sp2])) {
		return false
	}
	r.target = span{sp + 1, sp + 1 + sp2}
	switch m := r.b(r.method); string(m) {
	case "CONNECT", "PRI":
		return false
	case "HEAD":
		r.isHead = true
	default:
		r.isHead = false
	}
	// net/http refuses a target whose escapes do not decode: so does the
	// fast path, by handing it over (the check allocates, so only then).
	if bytes.IndexByte(r.b(r.target), '%') >= 0 {
		if _, err := url.ParseRequestURI(string(r.b(r.target))); err != nil {
			return false
		}
	}
	if readyPath != "" {
		path := r.b(r.target)
		if q := bytes.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		if string(path) == readyPath {
			return false
		}
		if bytes.IndexByte(path, '%') >= 0 {
			if p, err := url.PathUnescape(string(path)); err != nil || p == readyPath {
				return false
			}
		}
	}
	var connVals [4]span
	nconnVals := 0
	for pos := eol + 2; pos < len(head)-2; {
		end := pos + bytes.Index(head[pos:], crlf)
		l := head[pos:end]
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !validFieldName(l[:colon]) || r.nfields == fastMaxFields {
			return false // obsolete folding, a bad name: net/http's to judge
		}
		name := l[:colon]
		raw := l[colon+1:]
		v := trimOWS(raw)
		vs := pos + colon + 1 + len(raw) - len(trimLeftOWS(raw))
		for _, ch := range v {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return false
			}
		}
		f := &r.fields[r.nfields]
		r.nfields++
		f.line, f.name, f.value, f.kind = span{pos, end}, span{pos, pos + colon}, span{vs, vs + len(v)}, kindForward
		pos = end + 2
		switch {
		case asciiLowerEqualFold(name, "Host"):
			if r.host.e != 0 || len(v) == 0 || !validHost(v) {
				return false
			}
			r.host, f.kind = f.value, kindSkip
		case asciiLowerEqualFold(name, "Content-Length"):
			if r.length >= 0 || len(v) == 0 || len(v) > 6 {
				return false
			}
			n := int64(0)
			for _, ch := range v {
				if ch < '0' || ch > '9' {
					return false
				}
				n = n*10 + int64(ch-'0')
			}
			if n > maxBufferedBody {
				return false
			}
			r.length, f.kind = n, kindSkip
		case asciiLowerEqualFold(name, "Transfer-Encoding"), asciiLowerEqualFold(name, "Upgrade"),
			asciiLowerEqualFold(name, "Expect"):
			return false
		case asciiLowerEqualFold(name, "Connection"):
			if nconnVals == len(connVals) {
				return false
			}
			connVals[nconnVals] = f.value
			nconnVals++
			f.kind = kindSkip
		case asciiLowerEqualFold(name, "Keep-Alive"), asciiLowerEqualFold(name, "Proxy-Connection"),
			asciiLowerEqualFold(name, "Proxy-Authenticate"), asciiLowerEqualFold(name, "Proxy-Authorization"),
			asciiLowerEqualFold(name, "Trailer"):
			f.kind = kindSkip
		case asciiLowerEqualFold(name, "TE"):
			f.kind = kindTE
		case asciiLowerEqualFold(name, "X-Forwarded-For"):
			f.kind = kindXFF
		case asciiLowerEqualFold(name, "X-Forwarded-Host"):
			f.kind, r.hasXFHost = kindTrusted, true
		case asciiLowerEqualFold(name, "X-Forwarded-Proto"):
			f.kind, r.hasXFProto = kindTrusted, true
		case asciiLowerEqualFold(name, "Forwarded"):
			f.kind = kindTrusted
		}
	}
	if r.host.e == 0 {
		return false // net/http answers 400
	}
	// Connection: "close" ends the connection after this response; other
	// names are fields that apply to this hop only.
	r.closeConn = false
	for _, cv := range connVals[:nconnVals] {
		for i := cv.s; i < cv.e; {
			j := i + bytes.IndexByte(r.head[i:cv.e], ',')
			if j < i {
				j = cv.e
			}
			s, e := i, j
			for s < e && (r.head[s] == ' ' || r.head[s] == '\t') {
				s++
			}
			for e > s && (r.head[e-1] == ' ' || r.head[e-1] == '\t') {
				e--
			}
			i = j + 1
			tok := r.head[s:e]
			switch {
			case len(tok) == 0, asciiLowerEqualFold(tok, "keep-alive"):
			case asciiLowerEqualFold(tok, "close"):
				r.closeConn = true
			default:
				if r.nconn == len(r.conn) {
					return false
				}
				r.conn[r.nconn] = span{s, e}
				r.nconn++
			}
		}
	}
	for i := range r.fields[:r.nfields] {
		f := &r.fields[i]
		for _, cn := range r.conn[:r.nconn] {
			if asciiLowerEqualFold(r.b(f.name), string(r.b(cn))) {
				f.kind = kindSkip
			}
		}
	}
	return true
}

var crlf = []byte("\r\n")

// validHost reports whether a Host value uses only the bytes net/http
// accepts in one (RFC 3986 reg-name, IP literal and port: net/http's
// httpguts.ValidHostHeader); the fast path hands the rest to net/http.
func validHost(v []byte) bool {
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// asciiLowerEqualFold reports whether b equals k ignoring ASCII case.
func asciiLowerEqualFold(b []byte, k string) bool {
	return len(b) == len(k) && asciiLowerEqual(b, k)
}

// appendUpstream appends the request head as sent to the application: the
// same rewriting as [Proxy.appendHead] does for net/http's requests.
func (r *fastReq) appendUpstream(b []byte, trust bool, ip string) []byte {
	b = appendRequestLine(b, r.b(r.method), r.b(r.target), r.b(r.host))
	for i := range r.fields[:r.nfields] {
		f := &r.fields[i]
		switch f.kind {
		case kindForward:
			b = append(b, r.b(f.line)...)
			b = append(b, "\r\n"...)
		case kindTrusted:
			if trust {
				b = append(b, r.b(f.line)...)
				b = append(b, "\r\n"...)
			}
		case kindTE:
			if headerHasToken([]string{string(r.b(f.value))}, "trailers") {
				b = append(b, "Te: trailers\r\n"...)
			}
		}
	}
	b = appendForwarded(b, trust, func(b []byte) []byte {
		for i := range r.fields[:r.nfields] {
			if f := &r.fields[i]; f.kind == kindXFF {
				b = append(b, r.b(f.value)...)
				b = append(b, ", "...)
			}
		}
		return b
	}, ip, r.b(r.host), r.hasXFHost, r.hasXFProto, "http")
	if r.length > 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.length, 10)
		b = append(b, "\r\n"...)
	} else {
		b = appendNoBodyLength(b, r.b(r.method))
	}
	return append(b, "\r\n"...)
}

// round serves one request: r is its head, out the request as it goes
// upstream, body included. keep reports whether the connection stays open; an error means
// it must be closed at once (client gone, response cut).
func (c *fastConn) round(r *fastReq, out []byte) (keep bool, err error) {
	p, f := c.f.p, c.f
	p.active.Add(1)
	defer p.active.Add(-1)
	isHead := r.isHead
	closeConn := r.closeConn
	wp := bufPool.Get().(*[]byte)
	w := (*wp)[:0]
	defer func() { putBuf(wp, w) }()

	u, err := p.upstream(c.ctx, func() (string, string) { return r.methodName(), "" })
	if err != nil {
		closing := closeConn || f.isDraining()
		w, closing, err = c.fail(w, err, closing, r.methodName())
		return err == nil && !closing, err
	}
	u.cr.start(c.ctx, u.taken)
	u.cr.send = out
	res, w, err := c.f.readFastHead(u, c, w, isHead)
	if err != nil {
		p.release(u, false)
		if errors.Is(err, errClientWrite) {
			return false, err
		}
		closing := closeConn || f.isDraining()
		w, closing, err = c.fail(w[:0], err, closing, r.methodName())
		return err == nil && !closing, err
	}
	closing := closeConn || res.length < 0 && !res.chunked && !res.noBody || f.isDraining()
	if closing {
		w = append(w, "Connection: close\r\n"...)
	} else if !c.hinted && f.hint != nil {
		c.hinted = true
		w = append(w, f.hint...)
	}
	w = append(w, "\r\n"...)
	f.fast.Add(1) // before the client can see the answer (tests count)
	w, err = copyFastBody(c, u, w, res)
	if errors.Is(err, errStreamEnded) {
		p.release(u, false)
		p.log.Info("drain exec: a streamed response ended at the drain's deadline", "method", r.methodName())
		return false, nil
	}
	if err != nil {
		p.release(u, false)
		if !errors.Is(err, errClientWrite) {
			p.failed.Add(1)
			p.log.Warn("drain exec: the application's response was cut", "method", r.methodName(), "err", err)
		}
		return false, err
	}
	p.release(u, !res.closeConn)
	return !closing, nil
}

// errClientWrite marks an error writing to the client.
var errClientWrite = errors.New("proxy: writing to the client")

// errStreamEnded: a chunked response was ended with a last chunk when its
// request's context ended between two chunks; neither connection can be
// reused.
var errStreamEnded = errors.New("proxy: streamed response ended at the deadline")

// fail answers a request the application did not answer, and reports
// whether the connection closes after it (always after a 503: the client
// retries on a new one).
func (c *fastConn) fail(w []byte, err error, closing bool, method string) ([]byte, bool, error) {
	p := c.f.p
	p.failed.Add(1)
	if errors.Is(err, context.Canceled) && c.f.ctx.Err() == nil {
		// The client went away: nobody reads an answer.
		p.log.Debug("drain exec: request cancelled", "method", method, "err", err)
		return w, closing, errClientWrite
	}
	code, msg := p.upstreamError(err)
	p.log.Warn("drain exec: upstream error", "method", method, "status", code, "err", err)
	retry := ""
	if code == http.StatusServiceUnavailable {
		// Not sent: the client may send it again, on a new connection.
		closing, retry = true, "\r\nRetry-After: 1"
	}
	body := strconv.Itoa(code) + " " + http.StatusText(code) + ": drain exec: " + msg + "\n"
	w = append(w, "HTTP/1.1 "...)
	w = strconv.AppendInt(w, int64(code), 10)
	w = append(w, ' ')
	w = append(w, http.StatusText(code)...)
	w = append(w, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, retry...)
	if closing {
		w = append(w, "\r\nConnection: close"...)
	}
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	if _, err := c.Write(w); err != nil {
		return w, closing, errClientWrite
	}
	return w, closing, nil
}

// readFastHead reads the application's response head for the fast path
// (readResponseHead into the connection's fastHead): informational
// responses (but 100, which the fast path never asked for) go to the
// client at once; the final head is appended to w without its final empty
// line, which the caller adds after its own fields.
func (f *Fast) readFastHead(u *pooled, c *fastConn, w []byte, isHead bool) (response, []byte, error) {
	c.hs.c, c.hs.w = c, w
	res, err := readResponseHead(u, isHead, &c.hs)
	w = c.hs.w
	c.hs.w = nil
	return res, w, err
}

// bytesHasToken reports whether the comma list list holds token, ignoring
// ASCII case.
func bytesHasToken(list []byte, token string) bool {
	for len(list) > 0 {
		f := list
		if i := bytes.IndexByte(list, ','); i >= 0 {
			f, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if asciiLowerEqualFold(trimOWS(f), token) {
			return true
		}
	}
	return false
}

// copyFastBody sends w (the response head) and the body described by res
// from u to the client c, writing whenever the next read from the
// application would wait. It returns errClientWrite when the client
// cannot be written to.
func copyFastBody(c io.Writer, u *pooled, w []byte, res response) ([]byte, error) {
	fc := fastChunks{w: w, c: c}
	switch {
	case res.noBody:
	case res.chunked:
		atBoundary, err := walkChunked(u.br, &fc)
		if err == nil {
			fc.w = append(fc.w, "\r\n"...)
		} else {
			if atBoundary && u.cr.ended {
				// The request's context ended (the drain's deadline, or
				// the client left) between two chunks: end the body
				// cleanly (a complete chunked encoding, then the
				// connection closes) rather than cut it.
				fc.w = append(fc.w, "0\r\n\r\n"...)
				if ferr := fc.flushW(); ferr != nil {
					return fc.w, ferr
				}
				return fc.w, errStreamEnded
			}
			return fc.w, err
		}
	default:
		if err := walkPlain(u.br, res.length, &fc); err != nil {
			return fc.w, err
		}
	}
	return fc.w, fc.flushW()
}

// fastChunks is the fast path's bodySink: a chunked body's chunks pass on
// as they are (their size lines checked), other bodies' bytes as they
// come, appended to w, which flushW writes to the client.
type fastChunks struct {
	w []byte
	c io.Writer
}

func (f *fastChunks) chunkSize(line []byte, _ int64) error {
	f.w = append(append(f.w, line...), "\r\n"...)
	return nil
}

func (f *fastChunks) chunkData(b []byte) error {
	if len(f.w)+len(b) > 64<<10 {
		if err := f.flushW(); err != nil {
			return err
		}
	}
	f.w = append(f.w, b...)
	return nil
}

func (f *fastChunks) chunkEnd() error {
	f.w = append(f.w, "\r\n"...)
	return nil
}

func (f *fastChunks) trailer(_ string, _, line []byte) error {
	f.w = append(append(f.w, line...), "\r\n"...)
	return nil
}

func (f *fastChunks) beforeWait() error { return f.flushW() }

// flushW writes f.w to the client.
func (f *fastChunks) flushW() error {
	if len(f.w) == 0 {
		return nil
	}
	_, err := f.c.Write(f.w)
	f.w = f.w[:0]
	if err != nil {
		return errClientWrite
	}
	return nil
}

// chunkSize parses a chunk-size line (hex size, optional extensions) as
// net/http does: trailing whitespace is dropped, then the extensions;
// what is left must be hex digits only.
func chunkSize(line []byte) (int64, bool) {
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		v := hexVal(ch)
		if v < 0 {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	return n, true
}
