package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

func TestParseStatusSet(t *testing.T) {
	for _, tc := range []struct {
		in, str string
		has     []int
		not     []int
	}{
		{"2xx", "2xx", []int{200, 204, 299}, []int{199, 300, 404}},
		{"200,404", "200,404", []int{200, 404}, []int{201, 403}},
		{"200-204, 3XX", "200-204,3xx", []int{200, 204, 301, 399}, []int{205, 400}},
		{"100-599", "1xx,2xx,3xx,4xx,5xx", []int{100, 599}, []int{99, 600}},
	} {
		s, err := ParseStatusSet(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s.String() != tc.str {
			t.Errorf("%q: String %q, want %q", tc.in, s, tc.str)
		}
		for _, st := range tc.has {
			if !s.Has(st) {
				t.Errorf("%q lacks %d", tc.in, st)
			}
		}
		for _, st := range tc.not {
			if s.Has(st) {
				t.Errorf("%q has %d", tc.in, st)
			}
		}
	}
	var zero StatusSet
	if !zero.Has(200) || !zero.Has(299) || zero.Has(404) || zero.Has(302) || zero.String() != "2xx" {
		t.Errorf("zero StatusSet is not 2xx")
	}
	for _, bad := range []string{"", "2", "600", "99", "204-200", "6xx", "abc", "200,"} {
		if _, err := ParseStatusSet(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: err %v, want ErrConfig", bad, err)
		}
	}
}

func TestRequestCheck(t *testing.T) {
	for _, tc := range []struct {
		q    Request
		want string // "" is valid
	}{
		{Request{Path: "/api/v1?x=1", Host: "api.example", Header: []string{"Authorization: Bearer x", "X-A:b"}, Methods: []string{"GET", "DELETE"}}, ""},
		{Request{Path: "api"}, "must start with /"},
		{Request{Path: "/a b"}, "space"},
		{Request{Host: "a/b"}, "not a host"},
		{Request{Methods: []string{"get"}}, "upper-case"},
		{Request{Header: []string{"NoColon"}}, "use Name:value"},
		{Request{Header: []string{": v"}}, "use Name:value"},
		{Request{Header: []string{"Bad Name: v"}}, "not a valid field"},
		{Request{Header: []string{"X: a\r\nY: b"}}, "not a valid field"},
		{Request{Header: []string{"host: x"}}, "--host"},
		{Request{Header: []string{"Content-Length: 3"}}, "sets Content-Length itself"},
	} {
		err := tc.q.check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.q, err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err %v, want ErrConfig with %q", tc.q, err, tc.want)
		}
	}
}

// seen records what a server received.
type seen struct {
	mu   sync.Mutex
	reqs []string // "METHOD path host header body"
}

func (s *seen) handler(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+r.Header.Get("X-Token")+" "+string(b))
		s.mu.Unlock()
		w.WriteHeader(status)
	})
}

// TestRequestShape: path, Host, headers, methods and TLS reach the server
// on every client, and each method gets its body or none.
func TestRequestShape(t *testing.T) {
	for _, client := range []string{ClientRaw, ClientGo} {
		for _, useTLS := range []bool{false, true} {
			var s seen
			var srv *httptest.Server
			q := Request{Path: "/api/x?a=1", Host: "api.example", Header: []string{"X-Token: t1"}, Methods: []string{"GET", "PUT", "DELETE"}}
			if useTLS {
				srv = httptest.NewTLSServer(s.handler(200))
				pool := x509.NewCertPool()
				pool.AddCert(srv.Certificate())
				q.TLS = &tls.Config{RootCAs: pool, ServerName: "example.com"}
			} else {
				srv = httptest.NewServer(s.handler(200))
			}
			cfg := Config{Rate: 100, Duration: 60 * time.Millisecond, Conns: 2, Client: client, Request: q}
			rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
			srv.Close()
			if err != nil {
				t.Fatal(err)
			}
			if n := countOutcomes(rs)[OK]; n != len(rs) || n != 6 {
				t.Errorf("%s tls=%v: %d of %d ok, want 6: %v", client, useTLS, n, len(rs), countOutcomes(rs))
			}
			want := map[string]int{
				"GET /api/x?a=1 api.example t1 ":                                          2,
				"PUT /api/x?a=1 api.example t1 drain load test body, 40 bytes long....\n": 2,
				"DELETE /api/x?a=1 api.example t1 ":                                       2,
			}
			got := map[string]int{}
			for _, r := range s.reqs {
				got[r]++
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s tls=%v: server saw %v, want %q x%d", client, useTLS, s.reqs, k, n)
				}
			}
			for _, r := range rs {
				if r.Post != (r.Seq%3 == 1) {
					t.Errorf("%s: request %d Post=%v", client, r.Seq, r.Post)
				}
			}
		}
	}
}

// TestTLSFailureIsLost: a certificate the client does not trust fails the
// handshake; every request is lost (other), none reaches the handler.
func TestTLSFailureIsLost(t *testing.T) {
	var s seen
	srv := quietTLSServer(s.handler(200))
	defer srv.Close()
	cfg := Config{Rate: 100, Duration: 30 * time.Millisecond, Conns: 1, Request: Request{TLS: &tls.Config{ServerName: "example.com"}}}
	rs, err := Run(context.Background(), cfg, httpTarget(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if n := countOutcomes(rs)[Other]; n != len(rs) || n == 0 {
		t.Errorf("outcomes %v, want all other", countOutcomes(rs))
	}
	if len(s.reqs) != 0 {
		t.Errorf("handler saw %v", s.reqs)
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(new(seen).handler(200))
	defer ok.Close()
	notFound := httptest.NewServer(new(seen).handler(404))
	defer notFound.Close()
	tlsSrv := quietTLSServer(new(seen).handler(200))
	defer tlsSrv.Close()
	addr := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	for _, tc := range []struct {
		name string
		addr string
		q    Request
		want string // "" is success
	}{
		{"ok", addr(ok), Request{}, ""},
		{"dead", closedAddr(t), Request{}, "connection refused (refused)"},
		{"404", addr(notFound), Request{Path: "/x"}, "GET /x to " + addr(notFound) + ": status 404, expected 2xx"},
		{"404 expected", addr(notFound), Request{Expect: mustStatus(t, "404")}, ""},
		{"untrusted cert", addr(tlsSrv), Request{TLS: &tls.Config{ServerName: "example.com"}}, "certificate signed by unknown authority"},
		{"trusted cert", addr(tlsSrv), Request{TLS: &tls.Config{RootCAs: pool, ServerName: "example.com"}}, ""},
		{"clear text to TLS", addr(tlsSrv), Request{}, "status 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(Config{Rate: 1, Duration: time.Second, RequestTimeout: 2 * time.Second, Request: tc.q}, staticTarget{})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Probe(context.Background(), endpoint.Endpoint{Addr: tc.addr})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Probe: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrProbe) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Probe: %v, want ErrProbe with %q", err, tc.want)
			}
		})
	}
}

func mustStatus(t *testing.T, s string) StatusSet {
	t.Helper()
	set, err := ParseStatusSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rate: 1e9, Duration: time.Second}, "more than one load client"},
		{Config{Rate: 1e5, Duration: time.Hour}, "exceed the limit"},
		{Config{Rate: 10, Duration: time.Second, RequestTimeout: -time.Second}, "request timeout -1s is negative"},
		{Config{Rate: 10, Duration: time.Second, Request: Request{Path: "x"}}, "must start with /"},
	} {
		if err := tc.cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (Config{Rate: 10, Duration: time.Second}).Validate(); err != nil {
		t.Error(err)
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// quietTLSServer is an httptest TLS server that does not log the
// handshakes the tests make fail.
func quietTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}
