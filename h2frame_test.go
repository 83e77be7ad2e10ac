package drain

import (
	"bytes"
	"net"
	"testing"
)

// recordConn is the socket under a trackedConn in these tests: it keeps
// what the server writes.
type recordConn struct {
	net.Conn
	out bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) { return r.out.Write(p) }

// frames builds a valid sequence of HTTP/2 frames from fuzz bytes: type,
// flags and payload length from each triple; header blocks are ended
// (END_HEADERS) by the last frame at the latest.
func frames(data []byte) (stream []byte, list [][]byte) {
	for i := 0; i+2 < len(data); i += 3 {
		typ := data[i] % 10
		if typ == 0x7 || typ == 0x6 { // keep our own GOAWAY/PING distinguishable
			typ = 0x0
		}
		flags := data[i+1]
		n := int(data[i+2] % 40)
		f := append([]byte{0, 0, byte(n), typ, flags, 0, 0, 0, byte(1 + 2*(i%50))}, make([]byte, n)...)
		list = append(list, f)
		stream = append(stream, f...)
	}
	return stream, list
}

func splitFrames(t *testing.T, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < frameHeaderLen {
			t.Fatalf("trailing %d bytes", len(b))
		}
		n := frameHeaderLen + (int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
		if n > len(b) {
			t.Fatalf("truncated frame")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// FuzzGoAwayInsertion: whatever the frames and however the server's writes
// split them, our GOAWAY and PING go out once, whole, between two frames and
// never inside a header block; every byte of the server's goes out, in order.
func FuzzGoAwayInsertion(f *testing.F) {
	f.Add([]byte{1, 0, 10, 9, 4, 3, 0, 0, 30, 1, 4, 0}, []byte{3, 5, 1}, uint8(1))
	f.Add([]byte{1, 0, 10, 9, 0, 3, 9, 4, 30, 0, 1, 39}, []byte{1, 1, 1, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, data, cuts []byte, at uint8) {
		stream, list := frames(data)
		// Cut the stream into writes.
		var writes [][]byte
		rest := stream
		for _, c := range cuts {
			k := min(int(c)%17+1, len(rest))
			writes = append(writes, rest[:k])
			rest = rest[k:]
		}
		if len(rest) > 0 {
			writes = append(writes, rest)
		}
		rec := &recordConn{}
		c := &trackedConn{Conn: rec, srv: &server{}}
		c.h2.Store(true)
		start := int(at) % (len(writes) + 1)
		for i, w := range writes {
			if i == start {
				c.startGoAway()
			}
			if n, err := c.Write(w); n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if start == len(writes) {
			c.startGoAway()
		}
		got := splitFrames(t, rec.out.Bytes())
		var ours, theirs [][]byte
		inBlock := false
		for i, fr := range got {
			if bytes.Equal(fr, goAwayPing[:17]) {
				if inBlock {
					t.Fatalf("GOAWAY inside a header block")
				}
				if i+1 >= len(got) || !bytes.Equal(got[i+1], goAwayPing[17:]) {
					t.Fatalf("GOAWAY not followed by our PING")
				}
				ours = append(ours, fr)
				continue
			}
			if bytes.Equal(fr, goAwayPing[17:]) {
				continue
			}
			theirs = append(theirs, fr)
			switch fr[3] {
			case frameHeaders, framePushPromise, frameContinuation:
				inBlock = fr[4]&flagEndHeaders == 0
			}
		}
		if len(theirs) != len(list) {
			t.Fatalf("%d frames out, %d in", len(theirs), len(list))
		}
		for i := range list {
			if !bytes.Equal(theirs[i], list[i]) {
				t.Fatalf("frame %d changed", i)
			}
		}
		switch {
		case len(ours) > 1:
			t.Fatalf("GOAWAY sent %d times", len(ours))
		case len(ours) == 0 && c.goAway != goAwayPending:
			t.Fatalf("GOAWAY neither sent nor pending")
		case len(ours) == 0 && !inBlock:
			t.Fatalf("GOAWAY still pending between frames")
		}
	})
}

// FuzzFrameScannerSplit: the scanner's view does not depend on how the bytes
// are cut into reads.
func FuzzFrameScannerSplit(f *testing.F) {
	ack := append([]byte(nil), goAwayPing[17:]...)
	ack[4] = flagAck
	f.Add(append(append([]byte(nil), h2cPreface...), ack...), []byte{5, 20, 3})
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x01\x05\x00\x00\x00\x03"), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		whole := frameScanner{preface: len(h2cPreface)}
		whole.scan(data)
		parts := frameScanner{preface: len(h2cPreface)}
		rest := data
		for _, c := range cuts {
			k := min(int(c)%11, len(rest))
			parts.scan(rest[:k])
			rest = rest[k:]
		}
		parts.scan(rest)
		if whole != parts {
			t.Fatalf("whole %+v, in parts %+v", whole, parts)
		}
	})
}

// TestScannerSeesPingAckAndStreams: the client side of the sequence.
func TestScannerSeesPingAckAndStreams(t *testing.T) {
	ack := append([]byte(nil), goAwayPing[17:]...)
	ack[4] = flagAck
	headers := func(id byte, flags byte) []byte { return []byte{0, 0, 1, frameHeaders, flags, 0, 0, 0, id, 0} }
	var in []byte
	in = append(in, h2cPreface...)
	in = append(in, headers(1, flagEndHeaders)...)
	in = append(in, headers(3, 0)...)                                       // a header block...
	in = append(in, 0, 0, 0, frameContinuation, flagEndHeaders, 0, 0, 0, 3) // ...ended
	in = append(in, headers(3, flagEndHeaders)...)                          // trailers: no new stream
	in = append(in, ack...)
	s := frameScanner{preface: len(h2cPreface)}
	for _, b := range in {
		s.scan([]byte{b})
	}
	if !s.pingAcked || s.opened != 2 || s.maxStream != 3 || !s.atBoundary() {
		t.Errorf("scanner %+v", s)
	}
}
