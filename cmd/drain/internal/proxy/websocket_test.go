package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// wsFrame is one WebSocket frame as read.
type wsFrame struct {
	op      byte
	payload []byte
}

func readFrame(br *bufio.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return wsFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(br, mask[:]); err != nil {
			return wsFrame{}, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return wsFrame{}, err
	}
	if masked {
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return wsFrame{h[0] & 0x0f, p}, nil
}

// frame encodes a final frame; masked as a client's must be.
func frame(op byte, payload []byte, masked bool) []byte {
	b := []byte{0x80 | op}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{1, 2, 3, 4}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestWebSocketGoingAway: at GoingAway, the client of a tunnelled
// WebSocket gets a Close frame with status 1001 after the frame the
// application was in the middle of sending (never inside it), and
// nothing after it; the client's own Close reaches the application, which
// answers and closes, and the tunnel ends.
func TestWebSocketGoingAway(t *testing.T) {
	halfSent, finish := make(chan struct{}), make(chan struct{})
	appGot := make(chan string, 1)
	big := make([]byte, 70000) // a 64-bit length header
	for i := range big {
		big[i] = byte(i)
	}
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		f, err := readFrame(brw.Reader)
		if err != nil || string(f.payload) != "hi" {
			t.Errorf("app: first frame %q %v", f.payload, err)
			return
		}
		whole := frame(0x2, big, false)
		c.Write(whole[:len(whole)/2])
		close(halfSent)
		<-finish
		c.Write(whole[len(whole)/2:])
		f, err = readFrame(brw.Reader)
		if err != nil || f.op != 0x8 {
			appGot <- fmt.Sprintf("op %d %v", f.op, err)
			return
		}
		appGot <- fmt.Sprint(binary.BigEndian.Uint16(f.payload))
		c.Write(frame(0x8, f.payload[:2], false)) // the answer, then close
	}))
	addr, p, _ := front(t, up, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	c.Write(frame(0x1, []byte("hi"), true))
	<-halfSent
	// Part of the frame has passed the proxy: it is in the middle of it.
	if _, err := br.Peek(16); err != nil {
		t.Fatal(err)
	}
	p.GoingAway()
	close(finish)
	f, err := readFrame(br)
	if err != nil || f.op != 0x2 || len(f.payload) != len(big) || f.payload[69999] != big[69999] {
		t.Fatalf("the frame in flight at GoingAway: op %d, %d bytes, %v; want it whole", f.op, len(f.payload), err)
	}
	f, err = readFrame(br)
	if err != nil || f.op != 0x8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1001 {
		t.Fatalf("after GoingAway: op %d payload %q %v; want Close 1001", f.op, f.payload, err)
	}
	c.Write(frame(0x8, f.payload[:2], true))
	if got := <-appGot; got != "1001" {
		t.Errorf("the application got %s, want the client's Close 1001", got)
	}
	if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
		t.Errorf("after the closing handshake: %d bytes more, %v; want EOF and nothing (the app's answer is not passed after our Close)", len(b), err)
	}
}
