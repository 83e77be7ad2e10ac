package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// One reader of the application's response heads for both paths:
// readResponseHead parses the status line and the fields, decides the
// connection's fate (Connection, HTTP/1.0) and the body's framing
// (Content-Length, Transfer-Encoding: [response.framing]), handles
// informational responses, and hands the rest to a headSink: fastHead
// writes the head as the client will get it (the fast path), httpHead sets
// net/http's header map. What counts as a valid head, and how a body is
// framed, is decided once (FuzzResponseHead holds the two sinks to the
// same verdicts).

// headSink receives a response head as readResponseHead parses it.
type headSink interface {
	// begin starts a head; line is its status line (without CRLF),
	// already checked by parseStatusLine.
	begin(line []byte)
	// field gets each field but Connection and Transfer-Encoding
	// (Content-Length included): its canonical name, the index of its
	// common value in pooled.values (or -1), and its value, valid until
	// the next read from the application.
	field(k string, common int, vb []byte)
	// interim ends an informational head (1xx but 100 and 101), which goes
	// to the client now.
	interim(status int, h *headState) error
	// drop forgets the head begun (a 100 Continue, never passed on).
	drop()
	// final ends the final head; res holds its framing.
	final(res response, h *headState) error
}

// headState is what readResponseHead gathers of a head besides its end-to-end
// fields. It lives in the pooled connection, so reading a head allocates
// nothing for it.
type headState struct {
	conn       []byte   // the Connection values, comma-separated
	lengths    []string // Content-Length values
	encodings  []string // Transfer-Encoding values
	lengthsBuf [2]string
	encsBuf    [2]string
	connBuf    [64]byte
}

// names reports whether the head's Connection field names k (those fields
// apply to this hop only).
func (h *headState) names(k string) bool {
	return len(h.conn) > 0 && bytesHasToken(h.conn, k)
}

// readResponseHead reads the application's response head from u into s,
// the informational ones before it included.
func readResponseHead(u *pooled, isHead bool, s headSink) (response, error) {
	br := u.br
	h := &u.head
	total := 0
	for {
		res := response{length: -1}
		line, err := readLine(br, &total)
		if err != nil {
			return res, err
		}
		var minor int
		if res.status, minor, err = parseStatusLine(line); err != nil {
			return res, err
		}
		s.begin(line)
		h.conn, h.lengths, h.encodings = h.connBuf[:0], h.lengthsBuf[:0], h.encsBuf[:0]
		for {
			line, err := readLine(br, &total)
			if err != nil {
				return res, unexpected(err)
			}
			if len(line) == 0 {
				break
			}
			k, common, vb, ok := splitField(line)
			if !ok {
				return res, fmt.Errorf("%w: header line %q", errMalformed, line)
			}
			switch k {
			case "Connection":
				h.conn = append(append(h.conn, vb...), ',')
				continue
			case "Content-Length":
				h.lengths = append(h.lengths, u.value(common, vb))
			case "Transfer-Encoding":
				h.encodings = append(h.encodings, u.value(common, vb))
				continue
			}
			s.field(k, common, vb)
		}
		res.closeConn = bytesHasToken(h.conn, "close") || (minor == 0 && !bytesHasToken(h.conn, "keep-alive"))
		if res.status >= 100 && res.status < 200 {
			switch res.status {
			case http.StatusSwitchingProtocols:
				return res, errUnwantedSwitch
			case http.StatusContinue:
				// For the body (awaitContinue), or not asked for: the
				// client gets its own from the fast path or net/http.
				s.drop()
				continue
			}
			if err := s.interim(res.status, h); err != nil {
				return res, err
			}
			continue
		}
		if err := res.framing(isHead, h.lengths, h.encodings); err != nil {
			return res, err
		}
		return res, s.final(res, h)
	}
}

// value returns the string for a field value, the one kept for its common
// field if equal (no allocation for values that repeat).
func (u *pooled) value(common int, vb []byte) string {
	if common < 0 {
		return string(vb)
	}
	if string(vb) != u.values[common] {
		u.values[common] = string(vb)
	}
	return u.values[common]
}

// fastHead is the fast path's headSink: it appends the head to w as the
// client will get it, with no framing fields (Content-Length,
// Transfer-Encoding) until the final head, and without the final head's
// empty line, which the caller adds after its own fields. An
// informational head is written to the client at once.
type fastHead struct {
	c     io.Writer
	w     []byte
	start int // where the current head begins in w
	spans [32]struct {
		s, e int
		k    string
	} // the fields in w, to remove those named by Connection
	n int
}

func (f *fastHead) begin(line []byte) {
	f.start, f.n = len(f.w), 0
	f.w = append(f.w, "HTTP/1.1 "...)
	f.w = append(f.w, line[9:]...)
	f.w = append(f.w, "\r\n"...)
}

func (f *fastHead) field(k string, _ int, vb []byte) {
	if k == "Content-Length" || (k != "Trailer" && hopByHop(k)) {
		return
	}
	s := len(f.w)
	f.w = append(f.w, k...)
	f.w = append(f.w, ": "...)
	f.w = append(f.w, vb...)
	f.w = append(f.w, "\r\n"...)
	if f.n < len(f.spans) {
		f.spans[f.n].s, f.spans[f.n].e, f.spans[f.n].k = s, len(f.w), k
		f.n++
	}
}

// dropNamed removes the fields the Connection field names.
func (f *fastHead) dropNamed(h *headState) {
	if len(h.conn) == 0 {
		return
	}
	for i := f.n - 1; i >= 0; i-- {
		if sp := f.spans[i]; h.names(sp.k) {
			f.w = append(f.w[:sp.s], f.w[sp.e:]...)
		}
	}
}

func (f *fastHead) interim(_ int, h *headState) error {
	f.dropNamed(h)
	f.w = append(f.w, "\r\n"...)
	if _, err := f.c.Write(f.w); err != nil {
		return errClientWrite
	}
	f.w = f.w[:0]
	return nil
}

func (f *fastHead) drop() { f.w = f.w[:f.start] }

func (f *fastHead) final(res response, h *headState) error {
	f.dropNamed(h)
	switch {
	case res.noBody:
		if len(h.lengths) > 0 && res.status != http.StatusNoContent {
			f.w = append(f.w, "Content-Length: "...)
			f.w = append(f.w, h.lengths[0]...)
			f.w = append(f.w, "\r\n"...)
		}
	case res.chunked:
		f.w = append(f.w, "Transfer-Encoding: chunked\r\n"...)
	case res.length >= 0:
		f.w = append(f.w, "Content-Length: "...)
		f.w = strconv.AppendInt(f.w, res.length, 10)
		f.w = append(f.w, "\r\n"...)
	}
	return nil
}

// httpHead is the net/http path's headSink: it sets the end-to-end fields
// in w's header map; an informational head is sent with WriteHeader at
// once.
type httpHead struct {
	w      http.ResponseWriter
	u      *pooled
	fields []field
}

func (s *httpHead) begin([]byte) { s.fields = s.fields[:0] }

func (s *httpHead) field(k string, common int, vb []byte) {
	s.fields = append(s.fields, field{k, s.u.value(common, vb)})
}

func (s *httpHead) interim(status int, h *headState) error {
	hdr := s.w.Header()
	added := setFields(hdr, s.fields, h, true)
	s.w.WriteHeader(status)
	for _, k := range added {
		delete(hdr, k)
	}
	return nil
}

func (s *httpHead) drop() {}

func (s *httpHead) final(_ response, h *headState) error {
	hdr := s.w.Header()
	setFields(hdr, s.fields, h, false)
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no sniffing: the application chose none
	}
	return nil
}

// field is one header line of the application's response.
type field struct{ k, v string }

// setFields adds fields to h except hop-by-hop ones (but Trailer, which
// net/http uses to announce the trailers) and those the head's Connection
// field names. It returns the keys it added if keys is set.
func setFields(h http.Header, fields []field, st *headState, keys bool) []string {
	vals := make([]string, len(fields)) // one allocation for all single values
	var added []string
	for i, f := range fields {
		if f.k != "Trailer" && (hopByHop(f.k) || st.names(f.k)) {
			continue
		}
		if old, ok := h[f.k]; ok {
			h[f.k] = append(old, f.v) // capacity-limited: copies
			continue
		}
		vals[i] = f.v
		h[f.k] = vals[i : i+1 : i+1]
		if keys {
			added = append(added, f.k)
		}
	}
	return added
}
