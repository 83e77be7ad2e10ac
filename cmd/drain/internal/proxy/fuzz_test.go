package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
)

// The hand-written HTTP/1.1 parsing in front of every request is fuzzed
// here, each target against net/http's own parser (the differential):
// the fast path may serve only what net/http would accept, reading it the
// same way. The seeds, and every input a fuzz run found worth keeping, are
// in testdata/fuzz/<Target>, run by a plain `go test` (CI) like the seeds
// below. Run a target longer with
//
//	go test -run '^$' -fuzz FuzzFastRequestHead -fuzztime 60s ./cmd/drain/internal/proxy

// requestSeeds are request heads of every shape the fast path decides on.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?b=c HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /%41 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
	"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
	"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\n",
	"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /%68ealth HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 1.2.3.4\r\nTE: trailers\r\n\r\n",
}

// FuzzFastRequestHead: a request head the fast path takes (parse true) is
// one net/http reads without error, with the same method, target, Host,
// Content-Length and close; it never panics on any input.
func FuzzFastRequestHead(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		end := bytes.Index(data, crlfcrlf)
		if end < 0 || end+4 > fastHeadMax {
			return
		}
		head := data[:end+4]
		var r fastReq
		if !r.parse(head, "/health") {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("the fast path takes %q, net/http refuses it: %v", head, err)
		}
		if req.Method != string(r.b(r.method)) || req.RequestURI != string(r.b(r.target)) || req.Host != string(r.b(r.host)) {
			t.Fatalf("%q: fast path %q %q %q, net/http %q %q %q", head, r.b(r.method), r.b(r.target), r.b(r.host), req.Method, req.RequestURI, req.Host)
		}
		if want := max(r.length, 0); req.ContentLength != want {
			t.Fatalf("%q: fast path length %d, net/http %d", head, r.length, req.ContentLength)
		}
		if req.Close != r.closeConn {
			t.Fatalf("%q: fast path close %v, net/http %v", head, r.closeConn, req.Close)
		}
		if len(req.TransferEncoding) > 0 {
			t.Fatalf("%q: the fast path takes a request net/http reads as chunked", head)
		}
	})
}

// responseSeeds are response heads (and a little body) of every framing.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nbody",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
}

// FuzzResponseHead: the fast path's response-head reader and the net/http
// path's agree on every input: both refuse it, or both take it with the
// same status and the same framing (length, chunked, no body, close).
func FuzzResponseHead(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(responseSeeds[0]), true)
	f.Fuzz(func(t *testing.T, data []byte, isHead bool) {
		fu := &pooled{br: bufio.NewReader(bytes.NewReader(data))}
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		go func() { _, _ = io.Copy(io.Discard, c2) }()
		fres, _, ferr := (&Fast{}).readFastHead(fu, &fastConn{c: c1}, nil, isHead)

		hu := &pooled{br: bufio.NewReader(bytes.NewReader(data))}
		method := "GET"
		if isHead {
			method = "HEAD"
		}
		req := httptest.NewRequest(method, "/", nil)
		hres, herr := (&Proxy{}).readHead(hu, httptest.NewRecorder(), req)
		if (ferr == nil) != (herr == nil) {
			t.Fatalf("%q: fast path %v, net/http path %v", data, ferr, herr)
		}
		if ferr == nil && fres != hres {
			t.Fatalf("%q: fast path %+v, net/http path %+v", data, fres, hres)
		}
	})
}

// chunkedSeeds are chunked bodies, valid and not.
var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5;ext=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
	"5\r\nhello\r\n0\r\nContent-Length: 3\r\n\r\n",
	"5\r\nhelloXX0\r\n\r\n",
	"g\r\n\r\n",
	"fffffffffffffffff\r\n",
	" 5 \r\nhello\r\n0\r\n\r\n",
	"5\nhello\n0\n\n",
	"-1\r\n\r\n",
	"0x5\r\nhello\r\n0\r\n\r\n",
}

// FuzzChunked: the one chunked decoder (walkChunked, both paths) never
// panics, and what it accepts net/http's decoder (httputil's
// ChunkedReader) accepts too, with the same bytes: the proxy passes on no
// body a standard client would read differently.
func FuzzChunked(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s recordChunks
		br := bufio.NewReader(bytes.NewReader(data))
		if _, err := walkChunked(br, &s); err != nil {
			return
		}
		std, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(data))))
		if err != nil {
			t.Fatalf("%q: walkChunked took it (%q), net/http refuses it: %v", data, s.data.String(), err)
		}
		if !bytes.Equal(std, s.data.Bytes()) {
			t.Fatalf("%q: walkChunked %q, net/http %q", data, s.data.String(), std)
		}
		for _, tr := range s.trailers {
			if strings.ContainsAny(tr, "\r\n") {
				t.Fatalf("%q: trailer %q holds a line break", data, tr)
			}
		}
	})
}

// recordChunks keeps what walkChunked decodes.
type recordChunks struct {
	data     bytes.Buffer
	trailers []string
}

func (*recordChunks) chunkSize([]byte, int64) error { return nil }
func (*recordChunks) chunkEnd() error               { return nil }
func (*recordChunks) beforeWait() error             { return nil }
func (s *recordChunks) chunkData(b []byte) error {
	s.data.Write(b)
	return nil
}
func (s *recordChunks) trailer(k string, v, _ []byte) error {
	s.trailers = append(s.trailers, k+": "+string(v))
	return nil
}
