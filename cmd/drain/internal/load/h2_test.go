package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fakeH2 is an HTTP/2 server on the Framer that answers each connection's
// streams by their order: the first 200, the second RST_STREAM
// REFUSED_STREAM, the third a GOAWAY whose last stream is the second (so
// the third was not processed). It records every DATA payload it gets.
type fakeH2 struct {
	ln   net.Listener
	mu   sync.Mutex
	data [][]byte
	wg   sync.WaitGroup
}

func newFakeH2(t *testing.T) *fakeH2 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeH2{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakeH2) serve(c net.Conn) {
	defer c.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	n := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			s.mu.Lock()
			s.data = append(s.data, append([]byte(nil), f.Data()...))
			s.mu.Unlock()
		case *http2.MetaHeadersFrame:
			n++
			switch n {
			case 1:
				buf.Reset()
				enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
			case 2:
				fr.WriteRSTStream(f.StreamID, http2.ErrCodeRefusedStream)
			case 3:
				fr.WriteGoAway(f.StreamID-2, http2.ErrCodeNo, nil)
			}
		}
	}
}

// TestH2Outcomes: each stream's end is its own outcome (ok, refused_stream,
// goaway), nothing is retried, and every body went out exactly once.
func TestH2Outcomes(t *testing.T) {
	srv := newFakeH2(t)
	cfg := Config{Rate: 100, Duration: 90 * time.Millisecond, Conns: 1, H2Conns: 1, Protocol: ProtocolH2C, PostRatio: 1, RequestTimeout: 2 * time.Second}
	rs, err := Run(context.Background(), cfg, staticTarget{ep: endpoint.Endpoint{Addr: srv.ln.Addr().String(), Replica: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 9 {
		t.Fatalf("%d results, want 9", len(rs))
	}
	want := []Outcome{OK, RefusedStream, GoAway}
	conns := map[uint32]bool{}
	for i, r := range rs {
		if r.Outcome != want[i%3] {
			t.Errorf("request %d: %v, want %v", i, r.Outcome, want[i%3])
		}
		if r.NewConn != (i%3 == 0) {
			t.Errorf("request %d: NewConn %v", i, r.NewConn)
		}
		conns[r.Conn] = true
	}
	if len(conns) != 3 {
		t.Errorf("%d connections, want 3 (a new one after each GOAWAY)", len(conns))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	// The last body may be cut by the client's close at the end; none
	// may come twice (a stream's DATA is written once, never retried).
	if len(srv.data) < 8 || len(srv.data) > 9 {
		t.Errorf("server got %d bodies, want 9 (8 if the last was cut): each sent once", len(srv.data))
	}
	for _, d := range srv.data {
		if string(d) != postBody {
			t.Errorf("body %q", d)
		}
	}
}

// TestH2Multiplexed: against net/http's own HTTP/2 (h2c and h2 over TLS),
// the steady load's requests are streams over H2Conns connections, all ok.
func TestH2Multiplexed(t *testing.T) {
	for _, proto := range []string{ProtocolH2C, ProtocolH2} {
		t.Run(proto, func(t *testing.T) {
			var mu sync.Mutex
			protos := map[string]int{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				protos[r.Proto]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetHTTP2(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			cfg := Config{Rate: 400, Duration: 250 * time.Millisecond, Conns: 16, H2Conns: 3, Protocol: proto, PostRatio: 0.5}
			if proto == ProtocolH2 {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				cfg.Request.TLS = &tls.Config{InsecureSkipVerify: true}
			} else {
				srv.Start()
			}
			defer srv.Close()
			rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			conns := map[uint32]bool{}
			for _, r := range rs {
				if r.Outcome != OK {
					t.Errorf("request %d: %v", r.Seq, r.Outcome)
				}
				conns[r.Conn] = true
			}
			mu.Lock()
			defer mu.Unlock()
			if len(conns) != 3 || protos["HTTP/2.0"] != len(rs) || len(rs) != 100 {
				t.Errorf("%d requests over %d connections, server saw %v; want 100 over 3, all HTTP/2.0", len(rs), len(conns), protos)
			}
		})
	}
}
