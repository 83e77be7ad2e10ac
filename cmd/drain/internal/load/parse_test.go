package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

type parsed struct {
	status int
	close  bool
	rest   int // bytes left unread after the response
	err    error
}

func parseAll(in []byte, rd io.Reader) parsed {
	var rr respReader
	rr.reset(rd)
	h, err := rr.readResponse()
	if err != nil {
		return parsed{err: err}
	}
	rest := rr.buffered()
	n, _ := io.Copy(io.Discard, rd)
	return parsed{status: h.status, close: h.close, rest: rest + int(n)}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want parsed
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", parsed{status: 200}},
		{"leftover bytes stay unread", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXYZ", parsed{status: 200, rest: 3}},
		{"zero length", "HTTP/1.1 204 No Content\r\n\r\n", parsed{status: 204}},
		{"304 ignores content-length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", parsed{status: 304}},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n", parsed{status: 200}},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", parsed{status: 200}},
		{"chunked wins over content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", parsed{status: 200}},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", parsed{status: 200, close: true}},
		{"connection list", "HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n", parsed{status: 200, close: true}},
		{"http/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", parsed{status: 200, close: true}},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", parsed{status: 200}},
		{"body to EOF", "HTTP/1.1 200 OK\r\n\r\nall of this", parsed{status: 200, close: true}},
		{"bare LF", "HTTP/1.1 503 Service Unavailable\nContent-Length: 1\n\nx", parsed{status: 503}},
		{"no reason", "HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n", parsed{status: 500}},
		{"100 continue skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", parsed{status: 201}},
		{"nothing at all", "", parsed{err: io.EOF}},
		{"cut in head", "HTTP/1.1 200 OK\r\nContent-Le", parsed{err: io.ErrUnexpectedEOF}},
		{"cut in body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", parsed{err: io.ErrUnexpectedEOF}},
		{"cut in chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", parsed{err: io.ErrUnexpectedEOF}},
		{"empty body cut after head", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", parsed{err: io.ErrUnexpectedEOF}},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", parsed{err: errMalformed}},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", parsed{err: errMalformed}},
		{"101", "HTTP/1.1 101 Switching Protocols\r\n\r\n", parsed{err: errMalformed}},
		{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", parsed{err: errMalformed}},
		{"conflicting content-length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", parsed{err: errMalformed}},
		{"gzip transfer-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", parsed{err: errMalformed}},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", parsed{err: errMalformed}},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", parsed{err: errMalformed}},
		{"folded header", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", parsed{err: errMalformed}},
		{"huge head", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHeadSize) + "\r\n\r\n", parsed{err: errMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range []struct {
				name string
				rd   func(string) io.Reader
			}{
				{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
				{"byte by byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
				{"data with EOF", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }},
			} {
				got := parseAll([]byte(tt.in), split.rd(tt.in))
				if got.status != tt.want.status || got.close != tt.want.close || got.rest != tt.want.rest || !errors.Is(got.err, tt.want.err) || (got.err == nil) != (tt.want.err == nil) {
					t.Errorf("%s: got %+v, want %+v", split.name, got, tt.want)
				}
			}
		})
	}
}

// TestReadResponseAllocs checks the parser's design goal: reading a
// response allocates nothing once the connection's buffer exists.
func TestReadResponseAllocs(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, world!" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	var sr strings.Reader
	var rr respReader
	rr.reset(&sr)
	allocs := testing.AllocsPerRun(1000, func() {
		sr.Reset(resp)
		rr.reset(&sr)
		for range 2 {
			if _, err := rr.readResponse(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per two responses, want 0", allocs)
	}
}

// FuzzParseResponse checks that the parser never panics or loops, that it
// gives the same answer however the bytes are split into reads, and that
// what it accepts net/http's reader reads the same way (status, framing).
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\n\r\nbye",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := parseAll(in, bytes.NewReader(in))
		bytewise := parseAll(in, iotest.OneByteReader(bytes.NewReader(in)))
		if whole.status != bytewise.status || whole.close != bytewise.close || whole.rest != bytewise.rest || (whole.err == nil) != (bytewise.err == nil) {
			t.Fatalf("split changes the result: whole %+v, byte by byte %+v", whole, bytewise)
		}
		if whole.err != nil {
			return
		}
		if whole.status < 200 || whole.status > 999 || whole.rest > len(in) {
			t.Fatalf("accepted %+v", whole)
		}
		// Where net/http reads the same bytes as one response too, it
		// must agree on the status and on where the response ends.
		src := bytes.NewReader(in)
		br := bufio.NewReader(src)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode < 200 {
			return
		}
		if resp.StatusCode != whole.status {
			t.Fatalf("status %d, net/http %d", whole.status, resp.StatusCode)
		}
		if left := br.Buffered() + src.Len(); !whole.close && !resp.Close && left != whole.rest {
			t.Fatalf("%d bytes left, net/http %d", whole.rest, left)
		}
	})
}
