package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// Request shapes every request of a run: the steady load, the hard cases
// and a [Client.Probe]. The zero value is the load drain test puts on its
// own replicas: GET and POST (Config.PostRatio) of /, Host the endpoint's
// address, clear text, 2xx expected.
type Request struct {
	// Path is the request target in origin form ("/" when empty); it must
	// start with "/".
	Path string
	// Host is the Host header (and the TLS server name); empty means the
	// address dialed.
	Host string
	// Header holds extra header fields, each "Name: value", sent on every
	// request after the client's own (Host, User-Agent).
	Header []string
	// Methods, if set, replaces the GET/POST mix of Config.PostRatio:
	// steady request n uses Methods[n%len(Methods)]. POST, PUT and PATCH
	// carry the fixed body; the others none.
	Methods []string
	// TLS, if set, makes every connection TLS with this configuration
	// (HTTP/1.1 over TLS: https). It is shared by all connections and must
	// not be changed once the run starts.
	TLS *tls.Config
	// Expect is the set of statuses that count as OK; every other complete
	// response is lost, by class (4xx, 503, 5xx, status). The zero
	// StatusSet means 2xx.
	Expect StatusSet
}

// hasBody reports whether requests with method carry the fixed body.
func hasBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// check validates q; errors wrap ErrConfig.
func (q Request) check() error {
	if q.Path != "" && !strings.HasPrefix(q.Path, "/") {
		return fmt.Errorf("%w: path %q must start with /", ErrConfig, q.Path)
	}
	if strings.ContainsAny(q.Path, " \r\n") {
		return fmt.Errorf("%w: path %q contains a space or line break", ErrConfig, q.Path)
	}
	if strings.ContainsAny(q.Host, " \r\n/") {
		return fmt.Errorf("%w: host %q is not a host[:port]", ErrConfig, q.Host)
	}
	for _, m := range q.Methods {
		if m == "" || strings.IndexFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return fmt.Errorf("%w: method %q: use upper-case letters only, e.g. GET", ErrConfig, m)
		}
	}
	for _, h := range q.Header {
		if _, _, err := SplitHeader(h); err != nil {
			return err
		}
	}
	return nil
}

// SplitHeader checks one "Name: value" header field and returns its parts;
// errors wrap ErrConfig.
func SplitHeader(h string) (name, value string, err error) {
	name, value, ok := strings.Cut(h, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	switch {
	case !ok || name == "":
		return "", "", fmt.Errorf("%w: header %q: use Name:value", ErrConfig, h)
	case strings.ContainsAny(value, "\r\n") || strings.IndexFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r)
	}) >= 0:
		return "", "", fmt.Errorf("%w: header %q: not a valid field name or value", ErrConfig, h)
	}
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "Host":
		return "", "", fmt.Errorf("%w: header %q: set the Host with --host", ErrConfig, h)
	case "Content-Length", "Transfer-Encoding", "Connection":
		return "", "", fmt.Errorf("%w: header %q: the client sets %s itself", ErrConfig, h, name)
	}
	return name, value, nil
}

// methods returns the run's methods and, when it has none of its own, the
// GET/POST pair that Config.PostRatio picks from.
func (q Request) methods() []string {
	if len(q.Methods) > 0 {
		return q.Methods
	}
	return []string{http.MethodGet, http.MethodPost}
}

// methodIndex is the index in q.methods() of steady request n.
func (q Request) methodIndex(n uint64, postRatio float64) int {
	if len(q.Methods) > 0 {
		return int(n % uint64(len(q.Methods)))
	}
	if isPost(n, postRatio) {
		return 1
	}
	return 0
}

// head returns a request's head without the final blank line: request
// line, Host, User-Agent, the extra fields and, with a body, its framing.
func (q Request) head(method, host string, body bool) string {
	path := q.Path
	if path == "" {
		path = "/"
	}
	if q.Host != "" {
		host = q.Host
	}
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: drain-load\r\n")
	for _, h := range q.Header {
		name, value, _ := SplitHeader(h)
		b.WriteString(name + ": " + value + "\r\n")
	}
	if body {
		b.WriteString("Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(postBody)) + "\r\n")
	}
	return b.String()
}

// bytes returns a complete request (head and, for a method with a body,
// the fixed body), built once per connection so a request allocates nothing.
func (q Request) bytes(method, host string) []byte {
	body := hasBody(method)
	s := q.head(method, host, body) + "\r\n"
	if body {
		s += postBody
	}
	return []byte(s)
}

// StatusSet is a set of HTTP statuses (100 to 599). The zero value is
// "unset", which [StatusSet.Has] treats as 2xx.
type StatusSet struct {
	bits [8]uint64 // bit s-100 is status s
	set  bool
}

// ParseStatusSet reads a comma-separated list of statuses (200), ranges
// (200-204) and classes (2xx), e.g. "2xx,301,302"; errors wrap ErrConfig.
func ParseStatusSet(s string) (StatusSet, error) {
	var set StatusSet
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi := 0, 0
		switch {
		case len(part) == 3 && strings.HasSuffix(strings.ToLower(part), "xx") && part[0] >= '1' && part[0] <= '5':
			lo = int(part[0]-'0') * 100
			hi = lo + 99
		default:
			a, b, isRange := strings.Cut(part, "-")
			var err1, err2 error
			lo, err1 = strconv.Atoi(a)
			hi = lo
			if isRange {
				hi, err2 = strconv.Atoi(b)
			}
			if err1 != nil || err2 != nil || lo < 100 || hi > 599 || lo > hi {
				return StatusSet{}, fmt.Errorf("%w: status %q: use statuses 100-599, ranges (200-204) or classes (2xx), comma-separated", ErrConfig, part)
			}
		}
		for st := lo; st <= hi; st++ {
			set.bits[(st-100)/64] |= 1 << ((st - 100) % 64)
		}
		set.set = true
	}
	return set, nil
}

// Has reports whether status is in the set (2xx for the zero StatusSet).
func (s StatusSet) Has(status int) bool {
	if !s.set {
		return status >= 200 && status <= 299
	}
	if status < 100 || status > 599 {
		return false
	}
	i := status - 100
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// String lists the set the way ParseStatusSet reads it.
func (s StatusSet) String() string {
	if !s.set {
		return "2xx"
	}
	var parts []string
	for class := 100; class <= 500; class += 100 {
		all := true
		for st := class; st < class+100; st++ {
			all = all && s.Has(st)
		}
		if all {
			parts = append(parts, strconv.Itoa(class/100)+"xx")
			continue
		}
		for st := class; st < class+100; st++ {
			if !s.Has(st) {
				continue
			}
			end := st
			for end+1 < class+100 && s.Has(end+1) {
				end++
			}
			if end == st {
				parts = append(parts, strconv.Itoa(st))
			} else {
				parts = append(parts, strconv.Itoa(st)+"-"+strconv.Itoa(end))
			}
			st = end
		}
	}
	return strings.Join(parts, ",")
}

// ErrProbe wraps a failed [Client.Probe]: the target is not worth loading.
var ErrProbe = errors.New("drain: pre-flight request failed")

// Probe sends one request shaped like the run's first (Request.Methods[0],
// else GET) to ep on a new connection with the raw client, and returns nil
// when it got a complete response with an expected status. Otherwise the
// error wraps ErrProbe and says what went wrong: the dial (refused, no
// route), the TLS handshake (certificate), or the status (404, 401...). It
// is the check a CI gate runs before any load: a dead or misrouted target
// must not pass, nor run a rollout for nothing. It must not be called
// during a Run of c.
func (c *Client) Probe(ctx context.Context, ep endpoint.Endpoint) error {
	r := &run{c: c, cfg: &c.cfg, ctx: ctx, conns: make(map[net.Conn]struct{})}
	q := &c.cfg.Request
	method := q.methods()[0]
	target := q.Path
	if target == "" {
		target = "/"
	}
	what := fmt.Sprintf("%s %s to %s", method, target, ep.Addr)
	deadline := time.Now().Add(c.cfg.RequestTimeout)
	stop := context.AfterFunc(ctx, r.abort)
	defer stop()
	conn, _, _, err := r.dial(ep, false, deadline)
	if err != nil {
		return fmt.Errorf("%w: %s: %v (%s)", ErrProbe, what, err, classify(err))
	}
	defer r.closeConn(conn)
	h, err := conn.exchange(conn.request(q, []string{method}, 0), deadline)
	if err != nil {
		return fmt.Errorf("%w: %s: no response: %v (%s)", ErrProbe, what, err, classify(err))
	}
	if !q.Expect.Has(h.status) {
		return fmt.Errorf("%w: %s: status %d, expected %s", ErrProbe, what, h.status, q.Expect)
	}
	return nil
}
