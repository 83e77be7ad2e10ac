package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// The ClientGo mode: the steady load goes through net/http's Transport, to
// show what a typical Go client sees. The Transport retries an idempotent
// request (GET) once on a reused connection that failed before any response
// byte, so losses the raw client records can vanish here.

// goConn is a Transport connection carrying its number and replica.
type goConn struct {
	net.Conn
	id      uint32
	replica int32
}

// goReq is per-request state the dialer and the trace fill in.
type goReq struct {
	mu      sync.Mutex // the dial may outlive RoundTrip on another goroutine
	conn    *goConn    // the connection the request got
	reused  bool
	dialID  uint32 // the last dial attempt made for this request
	replica int32
	dialed  bool
}

type goReqKey struct{}

func (r *run) newTransport() *http.Transport {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		id := r.connID.Add(1)
		ep, ok := r.c.target.Pick()
		gr, _ := ctx.Value(goReqKey{}).(*goReq)
		if gr != nil {
			gr.mu.Lock()
			gr.dialed, gr.dialID, gr.replica = true, id, -1
			if ok {
				gr.replica = ep.Replica
			}
			gr.mu.Unlock()
		}
		if !ok {
			return nil, errNoEndpoint
		}
		nc, replica, err := r.dialEndpoint(ctx, ep, time.Time{})
		if err != nil {
			return nil, err
		}
		if gr != nil {
			gr.mu.Lock()
			if gr.dialID == id {
				gr.replica = replica
			}
			gr.mu.Unlock()
		}
		if r.cfg.Request.TLS != nil {
			dl, _ := ctx.Deadline()
			tc, err := r.handshake(nc, dl)
			if err != nil {
				nc.Close()
				return nil, err
			}
			nc.SetDeadline(time.Time{})
			nc = tc
		}
		return &goConn{Conn: nc, id: id, replica: replica}, nil
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        r.cfg.Conns,
		MaxIdleConnsPerHost: r.cfg.Conns,
		MaxConnsPerHost:     r.cfg.Conns,
		DisableKeepAlives:   r.cfg.NoReuse,
		DisableCompression:  true,
		IdleConnTimeout:     r.cfg.Duration + r.cfg.RequestTimeout,
	}
	if r.cfg.Request.TLS != nil {
		// Our dial does the handshake (on the connection whose number and
		// replica the Results record); the URL is https so it is used.
		tr.DialTLSContext = dial
	}
	return tr
}

// doGo sends the request described by res through the Transport.
func (r *run) doGo(res *Result, method string, deadline time.Time) {
	now := time.Now()
	res.Sent = r.since(now)
	if !now.Before(deadline) {
		res.Done, res.Outcome = res.Sent, Timeout
		return
	}
	gr := &goReq{replica: -1}
	ctx, cancel := context.WithDeadline(r.ctx, deadline)
	defer cancel()
	ctx = context.WithValue(ctx, goReqKey{}, gr)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			gr.mu.Lock()
			defer gr.mu.Unlock()
			gr.conn, _ = info.Conn.(*goConn)
			gr.reused = info.Reused
		},
	})
	q := &r.cfg.Request
	url := "http://drain"
	if q.TLS != nil {
		url = "https://drain"
	}
	if q.Path == "" {
		url += "/"
	} else {
		url += q.Path
	}
	var body io.Reader
	if hasBody(method) {
		body = strings.NewReader(postBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		res.Done, res.Outcome = r.since(time.Now()), Other
		return
	}
	req.Host = q.Host // "": the Transport sends the URL's host, "drain"
	req.Header.Set("User-Agent", "drain-load")
	for _, h := range q.Header {
		name, value, _ := SplitHeader(h)
		req.Header.Add(name, value)
	}
	if hasBody(method) {
		req.Header.Set("Content-Type", "text/plain")
	}
	resp, err := r.tr.RoundTrip(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	res.Done = r.since(time.Now())
	gr.mu.Lock()
	if gr.conn != nil {
		res.Conn, res.Replica, res.NewConn = gr.conn.id, gr.conn.replica, !gr.reused
	} else if gr.dialed {
		res.Conn, res.Replica, res.NewConn = gr.dialID, gr.replica, true
	}
	gr.mu.Unlock()
	if err != nil {
		res.Outcome = classifyGo(err)
		return
	}
	res.Status = uint16(resp.StatusCode)
	res.Outcome = statusOutcome(resp.StatusCode, q.Expect)
	res.ConnClose = resp.Close
}

// classifyGo is classify plus the Transport's own errors that do not wrap
// the cause. Matching their text is the one place this package reads an
// error string: net/http exports no value for them.
func classifyGo(err error) Outcome {
	o := classify(err)
	if o != Other {
		return o
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "server closed idle connection"),
		strings.Contains(s, "server sent GOAWAY"),
		strings.Contains(s, "transport connection broken"):
		return EOF
	case strings.Contains(s, "connection reset"), strings.Contains(s, "broken pipe"):
		return Reset
	}
	return Other
}
