package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// bodySink receives a response body as walkChunked or walkPlain reads it.
// Both the fast path (which re-frames the body itself) and the net/http
// path (which lets net/http frame it) use the same two readers, so the two
// paths cannot disagree about what a valid body is, nor about when what
// has arrived is passed on.
type bodySink interface {
	// chunkSize gets each chunk-size line as received (without CRLF) and
	// its size; the last chunk's size is 0.
	chunkSize(line []byte, size int64) error
	// chunkData gets body bytes as they arrive, in pieces (walkPlain
	// calls only this and beforeWait).
	chunkData(b []byte) error
	// chunkEnd follows each chunk's data and its CRLF.
	chunkEnd() error
	// trailer gets each trailer field (not hop-by-hop, not Content-Length)
	// with its whole line.
	trailer(k string, v, line []byte) error
	// beforeWait is called before any read from the application that
	// would wait: what was received so far must go out now (a streamed
	// response, server-sent events, is never held back until the next
	// piece arrives).
	beforeWait() error
}

// walkChunked decodes a chunked body and its trailer section from br
// into s. atBoundary reports, with an error, that the body stopped between
// two chunks, where a writer can still end it cleanly with a last chunk;
// sink errors are returned as they are.
func walkChunked(br *bufio.Reader, s bodySink) (atBoundary bool, err error) {
	// line reads a chunk line: CRLF-terminated, as net/http requires
	// (a bare LF is refused: a peer reading it differently could be
	// desynchronised).
	line := func() ([]byte, error) {
		if b, _ := br.Peek(br.Buffered()); bytes.IndexByte(b, '\n') < 0 {
			if err := s.beforeWait(); err != nil {
				return nil, err
			}
		}
		l, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			return nil, fmt.Errorf("%w: chunk or trailer line too long", errMalformed)
		case err != nil:
			return nil, unexpected(err)
		case len(l) < 2 || l[len(l)-2] != '\r':
			return nil, fmt.Errorf("%w: chunk line ends with a bare LF", errMalformed)
		}
		return l[:len(l)-2], nil
	}
	for {
		l, err := line()
		if err != nil {
			return true, err
		}
		size, ok := chunkSize(l)
		if !ok {
			return false, fmt.Errorf("%w: chunk size line %q", errMalformed, l)
		}
		if err := s.chunkSize(l, size); err != nil {
			return false, err
		}
		if size == 0 {
			break
		}
		for n := size; n > 0; {
			if br.Buffered() == 0 {
				if err := s.beforeWait(); err != nil {
					return false, err
				}
				if _, err := br.Peek(1); err != nil {
					return false, unexpected(err)
				}
			}
			b, _ := br.Peek(int(min(int64(br.Buffered()), n)))
			if err := s.chunkData(b); err != nil {
				return false, err
			}
			_, _ = br.Discard(len(b))
			n -= int64(len(b))
		}
		if l, err = line(); err != nil {
			return false, err
		}
		if len(l) != 0 {
			return false, fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
		if err := s.chunkEnd(); err != nil {
			return false, err
		}
	}
	for {
		l, err := line()
		if err != nil {
			return false, err
		}
		if len(l) == 0 {
			return false, nil
		}
		k, _, v, ok := splitField(l)
		if !ok {
			return false, fmt.Errorf("%w: trailer line %q", errMalformed, l)
		}
		if hopByHop(k) || k == "Content-Length" {
			continue
		}
		if err := s.trailer(k, v, l); err != nil {
			return false, err
		}
	}
}

// walkPlain reads a body that is not chunked from br into s: n bytes, or
// (n < 0) everything until the application closes the connection. A body
// that ends before n bytes is io.ErrUnexpectedEOF; sink errors are
// returned as they are.
func walkPlain(br *bufio.Reader, n int64, s bodySink) error {
	for n != 0 {
		if br.Buffered() == 0 {
			if err := s.beforeWait(); err != nil {
				return err
			}
			if _, err := br.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return nil
				}
				return unexpected(err)
			}
		}
		b, _ := br.Peek(br.Buffered())
		if n >= 0 && int64(len(b)) > n {
			b = b[:n]
		}
		if err := s.chunkData(b); err != nil {
			return err
		}
		_, _ = br.Discard(len(b))
		if n > 0 {
			n -= int64(len(b))
		}
	}
	return nil
}

// unexpected maps a body's early end to io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
