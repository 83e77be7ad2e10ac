package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The forwarder is the proxy's path for every request but protocol
// upgrades and "Expect: 100-continue" (those go through
// httputil.ReverseProxy, see [Proxy.ServeHTTP]). It exists because
// ReverseProxy and http.Transport cost 4x HAProxy's CPU per request
// (bench/exec-proxy): two goroutines per upstream connection with channel
// hand-offs, a trace hook, a cloned request and header maps. Here the
// handler's own goroutine writes the request head (and a small body) in one
// write and parses the response itself; only a streamed request body gets a
// goroutine of its own.

// maxBufferedBody: request bodies of known length up to this size are read
// before the request is sent, so head and body go out in one write and a
// request whose pooled connection turns out closed can be sent again.
// Larger bodies, and bodies of unknown length, are streamed.
const maxBufferedBody = 16 << 10

// maxResponseHead bounds the application's status line and header section.
const maxResponseHead = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// aLongTimeAgo is a deadline that has passed: setting it interrupts
// blocked reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

var (
	errMalformed      = errors.New("proxy: malformed response from the application")
	errHeadTooLarge   = errors.New("proxy: response header section from the application too large")
	errUnwantedSwitch = errors.New("proxy: the application switched protocols unasked")
)

// forward sends r to the application and its response to w.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if r.Host == "" || hasSpaceOrCTL(r.Host) {
		// net/http checks HTTP/1 Host fields; an HTTP/2 :authority with a
		// space would break the request line's neighbour, so refuse it too.
		http.Error(w, "drain exec: bad Host", http.StatusBadRequest)
		return
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	bp := bufPool.Get().(*[]byte)
	buf := p.appendHead((*bp)[:0], r, hasBody)
	// With "Expect: 100-continue" the body waits for the application's
	// 100 (or DefaultExpectContinueTimeout); net/http sends the client its
	// own 100 when the body is first read.
	expect := hasBody && headerHasToken(r.Header["Expect"], "100-continue")
	stream := hasBody && (expect || r.ContentLength < 0 || r.ContentLength > maxBufferedBody)
	if hasBody && !stream {
		n := len(buf)
		buf = append(buf, make([]byte, r.ContentLength)...)
		if _, err := io.ReadFull(r.Body, buf[n:]); err != nil {
			putBuf(bp, buf)
			p.errorResponse(w, r, clientBodyError{err})
			return
		}
	}
	u, err := p.upstream(r.Context(), func() (string, string) { return r.Method, r.URL.Path })
	if err != nil {
		putBuf(bp, buf)
		p.errorResponse(w, r, err)
		return
	}
	u.cr.start(r.Context(), u.taken)
	if stream {
		// The body follows from another goroutine: the head goes first.
		_, err = u.conn.Write(buf)
		putBuf(bp, buf)
		if err != nil {
			u.conn.Close()
			p.errorResponse(w, r, err)
			return
		}
	} else {
		// Sent by the first read of the answer (ctxReader, sendAwait).
		u.cr.send = buf
		defer putBuf(bp, buf)
	}

	var body *bodySender
	send := stream
	if expect {
		send, err = u.awaitContinue()
		if err != nil {
			p.finish(w, u, nil, false)
			p.errorResponse(w, r, err)
			return
		}
	}
	if send {
		body = startBody(u.conn, r)
	}
	res, err := p.readHead(u, w, r)
	if expect && !send {
		// The application answered without the body, which was never
		// sent: it may still expect one on this connection.
		res.closeConn = true
	}
	if err != nil {
		if body != nil {
			select {
			case berr := <-body.done:
				body = nil
				var be clientBodyError
				if errors.As(berr, &be) {
					err = berr
				}
			default:
			}
		}
		p.finish(w, u, body, false)
		p.errorResponse(w, r, err)
		return
	}
	w.WriteHeader(res.status)
	clientGone, err := p.copyBody(w, u, res)
	if err != nil {
		p.finish(w, u, body, false)
		if clientGone || r.Context().Err() != nil {
			return
		}
		p.failed.Add(1)
		p.log.Warn("drain exec: the application's response was cut", "method", r.Method, "path", r.URL.Path, "err", err)
		// The status line is out: only closing the client connection
		// tells the client that the response is incomplete.
		panic(http.ErrAbortHandler)
	}
	p.finish(w, u, body, !res.closeConn)
}

// errContinueTimeout: the application did not answer "Expect:
// 100-continue" in time; the body is sent anyway (RFC 9110 §10.1.1).
var errContinueTimeout = errors.New("proxy: no 100 Continue from the application")

// awaitContinue waits for the application's first answer to a request
// with "Expect: 100-continue" and reports whether to send the body now: on
// a 100, or after DefaultExpectContinueTimeout without an answer.
func (u *pooled) awaitContinue() (bool, error) {
	u.cr.giveUp = time.Now().Add(DefaultExpectContinueTimeout)
	defer func() { u.cr.giveUp = time.Time{} }()
	b, err := u.br.Peek(len("HTTP/1.1 100 "))
	switch {
	case errors.Is(err, errContinueTimeout):
		return len(b) == 0, nil // a slow final answer: readHead takes it
	case err != nil:
		return false, err
	}
	return string(b[8:]) == " 100 ", nil
}

// bodySender streams a request body to the application on a goroutine of
// its own, so that the response can flow while the body is sent.
type bodySender struct {
	done chan error // its result, once

	mu      sync.Mutex
	stopped bool // no further read from the client
	reading bool // blocked reading the client's body
}

// errStopped: the body was not sent in full because the application
// answered first.
var errStopped = errors.New("proxy: request body not sent: the application answered first")

func startBody(c net.Conn, r *http.Request) *bodySender {
	s := &bodySender{done: make(chan error, 1)}
	go func() {
		err := s.send(c, r)
		s.done <- err
		var be clientBodyError
		if errors.As(err, &be) {
			// The application may be waiting for the rest of the body:
			// end the exchange (the handler's read fails). A failed
			// write, though, leaves the connection to the handler: the
			// application may have answered before it stopped reading.
			c.Close()
		}
	}()
	return s
}

// beginRead reports whether the sender may read from the client.
func (s *bodySender) beginRead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading = !s.stopped
	return s.reading
}

func (s *bodySender) endRead() {
	s.mu.Lock()
	s.reading = false
	s.mu.Unlock()
}

// stop ends the sending at its next read from the client, and reports
// whether it is inside one now.
func (s *bodySender) stop() (reading bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	return s.reading
}

// upstream returns a connection for a request: a pooled one unless the
// application has closed it, in which case, nothing of the request having
// been written, it is sent on a new connection instead (once). what names
// the request for the log.
func (p *Proxy) upstream(ctx context.Context, what func() (method, path string)) (*pooled, error) {
	u, reused, err := p.pool.get(ctx, false)
	if err != nil || !reused {
		return u, err
	}
	if u.taken.Sub(u.idleSince) < p.pool.peekAfter {
		return u, nil
	}
	if testHookFirstWrite != nil {
		testHookFirstWrite(u.conn)
	}
	if !u.peek.peerClosed() {
		return u, nil
	}
	u.conn.Close()
	p.retried.Add(1)
	method, path := what()
	p.log.Info("drain exec: retrying on a new connection", "method", method, "path", path, "err", errUpstreamClosed)
	u, _, err = p.pool.get(ctx, true)
	return u, err
}

// finish ends the handler's side of an exchange on u, failed or not: when
// it returns, the body sender, if any, has ended, and u is back in the
// pool if reuse allows and the exchange left it clean.
func (p *Proxy) finish(w http.ResponseWriter, u *pooled, body *bodySender, reuse bool) {
	u.cr.send = nil
	if body != nil {
		if body.stop() {
			// The application answered while the client was still
			// sending the body: stop reading it (no Read may outlive the
			// handler) and sending it.
			reuse = false
			u.conn.Close()
			_ = http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
		} else {
			// The sender is writing, or about to report: a write the
			// application never reads must not hold the handler.
			_ = u.conn.SetWriteDeadline(time.Now().Add(pollMax))
		}
		err := <-body.done
		reuse = reuse && err == nil && u.conn.SetWriteDeadline(time.Time{}) == nil
	}
	p.release(u, reuse)
}

// release puts u back in the pool if reuse allows and no read was cut by
// the end of its request's context, else closes it. (The fast path's
// context peeks at the client in Err: not called here on every request.)
func (p *Proxy) release(u *pooled, reuse bool) {
	u.cr.send = nil
	if reuse && !u.cr.ended {
		p.pool.put(u)
	} else {
		u.conn.Close()
	}
}

func putBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= 64<<10 {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
}

// hopByHop reports whether the field named k applies to one connection
// only (RFC 9110 §7.6.1, plus Proxy-Connection and the proxy
// authentication fields) and is never forwarded.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionNames reports whether the Connection field values vv name k.
func connectionNames(vv []string, k string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" && textproto.CanonicalMIMEHeaderKey(f) == k {
				return true
			}
		}
	}
	return false
}

// appendHead appends r's request line and header section as sent to the
// application.
func (p *Proxy) appendHead(b []byte, r *http.Request, hasBody bool) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	if uri := r.RequestURI; uri != "" && uri[0] == '/' && !hasSpaceOrCTL(uri) {
		b = append(b, uri...)
	} else {
		b = append(b, r.URL.RequestURI()...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	conn := r.Header["Connection"]
	trust := p.cfg.TrustForwarded
	for k, vv := range r.Header {
		switch k {
		case "Host", "Content-Length":
			continue
		case "X-Forwarded-For":
			continue // below
		case "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded":
			if !trust {
				continue
			}
		case "Te":
			// "TE: trailers" is end-to-end in effect: it says the client
			// reads trailers, which the application may then send.
			if !connectionNames(conn, k) && headerHasToken(vv, "trailers") {
				b = append(b, "Te: trailers\r\n"...)
			}
			continue
		}
		if hopByHop(k) || (conn != nil && connectionNames(conn, k)) {
			continue
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	b = append(b, "X-Forwarded-For: "...)
	if prior := r.Header["X-Forwarded-For"]; trust && len(prior) > 0 {
		for _, v := range prior {
			b = append(b, v...)
			b = append(b, ", "...)
		}
	}
	b = append(b, ip...)
	b = append(b, "\r\n"...)
	if _, ok := r.Header["X-Forwarded-Host"]; !trust || !ok {
		b = appendField(b, "X-Forwarded-Host", r.Host)
	}
	if _, ok := r.Header["X-Forwarded-Proto"]; !trust || !ok {
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		b = appendField(b, "X-Forwarded-Proto", proto)
	}
	switch {
	case hasBody && r.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case hasBody:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		if len(r.Trailer) > 0 {
			b = append(b, "Trailer: "...)
			first := true
			for k := range r.Trailer {
				if !first {
					b = append(b, ", "...)
				}
				first = false
				b = append(b, k...)
			}
			b = append(b, "\r\n"...)
		}
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	return append(b, "\r\n"...)
}

// hasSpaceOrCTL reports whether s has a byte that may not appear in a
// request target or Host as written on the request line and Host field
// (an HTTP/2 :path may hold spaces; the URL's own escaping is used then).
func hasSpaceOrCTL(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

func headerHasToken(vv []string, token string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// send streams r's body to the application, chunked when its length is
// unknown. An error reading the client's body is a clientBodyError.
func (s *bodySender) send(c net.Conn, r *http.Request) error {
	buf := make([]byte, 32<<10)
	var sent int64
	chunked := r.ContentLength < 0
	for {
		if !s.beginRead() {
			return errStopped
		}
		n, rerr := r.Body.Read(buf)
		s.endRead()
		if n > 0 {
			var err error
			if chunked {
				hdr := strconv.AppendInt(make([]byte, 0, 20), int64(n), 16)
				hdr = append(hdr, "\r\n"...)
				bufs := net.Buffers{hdr, buf[:n], []byte("\r\n")}
				_, err = bufs.WriteTo(c)
			} else {
				_, err = c.Write(buf[:n])
			}
			if err != nil {
				return err
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			if !chunked {
				if sent != r.ContentLength {
					return clientBodyError{io.ErrUnexpectedEOF}
				}
				return nil
			}
			end := []byte("0\r\n")
			for k, vv := range r.Trailer {
				for _, v := range vv {
					end = appendField(end, k, v)
				}
			}
			end = append(end, "\r\n"...)
			_, err := c.Write(end)
			return err
		}
		if rerr != nil {
			return clientBodyError{rerr}
		}
	}
}

// response is what the forwarder needs of the application's response
// head; its fields are already in the ResponseWriter's header map.
type response struct {
	status    int
	length    int64 // -1: until chunked end or close
	chunked   bool
	noBody    bool
	closeConn bool // the connection may not carry another request
}

// readHead reads the application's response head for the net/http path
// (readResponseHead into the connection's httpHead): informational (1xx)
// responses go to w at once; the final one's end-to-end fields are set in
// w.Header().
func (p *Proxy) readHead(u *pooled, w http.ResponseWriter, r *http.Request) (response, error) {
	u.hh.w, u.hh.u = w, u
	res, err := readResponseHead(u, r.Method == http.MethodHead, &u.hh)
	u.hh.w = nil
	return res, err
}

// framing sets res's body framing from the application's Content-Length and
// Transfer-Encoding fields (RFC 9112 §6.3).
func (res *response) framing(isHead bool, lengths, encodings []string) error {
	if isHead || res.status == http.StatusNoContent || res.status == http.StatusNotModified {
		res.noBody, res.length = true, 0
		return nil
	}
	if len(encodings) > 0 {
		// Transfer codings are hop-by-hop: passing on a body still
		// compressed by one (gzip, chunked) without its name would corrupt
		// it, and no server in use sends one, so only chunked is taken.
		if len(encodings) > 1 || !strings.EqualFold(strings.TrimSpace(encodings[0]), "chunked") {
			return fmt.Errorf("%w: Transfer-Encoding %q (only chunked is supported)", errMalformed, strings.Join(encodings, ", "))
		}
		res.chunked = true
		if len(lengths) > 0 {
			res.closeConn = true // RFC 9112 §6.3 (3): never reuse
		}
		return nil
	}
	for i, l := range lengths {
		n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		if err != nil || n < 0 || (i > 0 && n != res.length) {
			return fmt.Errorf("%w: Content-Length %q", errMalformed, strings.Join(lengths, ", "))
		}
		res.length = n
	}
	if res.length < 0 {
		res.closeConn = true
	}
	return nil
}

// copyBody copies the response body from the application to w, flushing
// w whenever the next read from the application would wait, so that
// nothing the application sent is held back. clientGone reports that the
// error came from writing to the client.
func (p *Proxy) copyBody(w http.ResponseWriter, u *pooled, res response) (clientGone bool, err error) {
	if res.noBody {
		return false, nil
	}
	s := &u.hb // in the pooled connection: the sink costs no allocation
	*s = httpChunks{w: w, dirty: true}
	if res.chunked {
		err = copyChunked(u, s)
	} else {
		err = walkPlain(u.br, res.length, s)
	}
	clientGone = s.clientGone
	*s = httpChunks{}
	return clientGone, err
}

// copyChunked copies a chunked body and its trailer section, which goes to
// the client as trailers (TrailerPrefix: net/http sends them whether the
// application announced them or not). Each write marks the response dirty,
// so that a flush, before any read from the application that would wait,
// sends it: an event stream's events go out one by one. When the request's
// context ends (the drain's deadline, the client gone) between two
// chunks, the body ends cleanly: net/http writes the last chunk
// (HTTP/1.1) or ends the stream (HTTP/2).
func copyChunked(u *pooled, s *httpChunks) error {
	atBoundary, err := walkChunked(u.br, s)
	if err != nil && !s.clientGone && atBoundary && u.cr.ended {
		return nil
	}
	return err
}

// httpChunks writes a body's data through net/http (the bodySink of the
// net/http path).
type httpChunks struct {
	w          http.ResponseWriter
	rc         *http.ResponseController // made at the first flush
	dirty      bool                     // written to since the last flush
	clientGone bool
}

func (*httpChunks) chunkSize([]byte, int64) error { return nil }
func (*httpChunks) chunkEnd() error               { return nil }

func (s *httpChunks) chunkData(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		s.clientGone = true
		return err
	}
	s.dirty = true
	return nil
}

func (s *httpChunks) trailer(k string, v, _ []byte) error {
	h := s.w.Header()
	h[http.TrailerPrefix+k] = append(h[http.TrailerPrefix+k], string(v))
	return nil
}

func (s *httpChunks) beforeWait() error {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	if s.rc == nil {
		s.rc = http.NewResponseController(s.w)
	}
	if err := s.rc.Flush(); err != nil {
		s.clientGone = true
		return err
	}
	return nil
}

// readLine returns the next line without its line ending; the slice is
// valid until the next read from br. total counts the bytes read, bounded
// by maxResponseHead.
func readLine(br *bufio.Reader, total *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*total += len(line)
	if err == bufio.ErrBufferFull || *total > maxResponseHead {
		return nil, errHeadTooLarge
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatusLine parses "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (status, minor int, err error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	minor = int(line[7] - '0')
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = status*10 + int(c-'0')
	}
	if minor < 0 || minor > 9 || status < 100 {
		return 0, 0, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	return status, minor, nil
}

// splitField splits a field line into its canonical name (and its index
// in commonFields, or -1) and its value without surrounding whitespace; ok
// is false for a line that is not "token: value" or whose value holds a
// control character other than HTAB.
func splitField(line []byte) (k string, common int, v []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || !validFieldName(line[:i]) {
		return "", -1, nil, false
	}
	v = trimOWS(line[i+1:])
	for _, c := range v {
		// A control character (a bare CR above all) passed on in a
		// field could split the client's view of the response.
		if c < ' ' && c != '\t' || c == 0x7f {
			return "", -1, nil, false
		}
	}
	k, common = fieldName(line[:i])
	return k, common, v, true
}

func validFieldName(b []byte) bool {
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// commonFields are the field names fieldName knows without allocating;
// their last values are kept per connection.
var commonFields = [...]string{
	"Content-Type", "Content-Length", "Date", "Connection", "Keep-Alive",
	"Transfer-Encoding", "Cache-Control", "Etag", "Last-Modified", "Server",
	"Vary", "Location", "Set-Cookie", "X-Powered-By", "Content-Encoding", "Trailer",
}

const numCommonFields = len(commonFields)

// fieldName returns the canonical form of a field name, and its index in
// commonFields or -1. The common names, in canonical or lower case, cost
// no allocation.
func fieldName(b []byte) (string, int) {
	for i, k := range commonFields {
		if len(k) == len(b) && (string(b) == k || asciiLowerEqual(b, k)) {
			return k, i
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(b)), -1
}

// asciiLowerEqual reports whether b equals k ignoring ASCII case.
func asciiLowerEqual(b []byte, k string) bool {
	for i := range len(b) {
		x, y := b[i], k[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
