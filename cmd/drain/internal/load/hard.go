package load

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// The hard cases: requests that straddle a replica's SIGTERM. BeforeStop
// sets them up on connections dialed straight to the replica (not through
// the Target: they must reach the one about to stop); AfterStop plays them
// out at fixed delays after the SIGTERM. Each produces one Result of its Kind.

const (
	// halfSentHead (after the run's GET head) ends inside a header field;
	// halfSentRest completes it.
	halfSentHead = "X-A: "
	halfSentRest = "1\r\n\r\n"
	// slowBody is the body of a slow-body POST; slowBodyFirst bytes of it go
	// out before the SIGTERM, the rest in slowBodyPieces pieces after.
	slowBody       = "drain slow body: this body trickles in across a SIGTERM, piece by piece...\n"
	slowBodyFirst  = 8
	slowBodyPieces = 8
)

// getOnly is the method list of the hard cases' GETs.
var getOnly = []string{http.MethodGet}

// hardConn is a hard case armed by BeforeStop, waiting for AfterStop.
type hardConn struct {
	kind  Kind
	c     *rawConn
	first time.Time // when the pending request's first byte was written
}

// enter returns the current run, counted in its WaitGroup, or nil between
// runs and while a run is ending.
func (c *Client) enter() *run {
	c.mu.Lock()
	r := c.cur
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.aborted {
		return nil
	}
	r.wg.Add(1)
	return r
}

// BeforeStop sets up the hard cases on connections dialed directly to addr,
// replica's address, just before it is stopped: Config.Idle idle
// connections and Config.HalfSent connections each do one complete GET
// (recorded as Steady: it is not the hard case); then the half-sent ones write the first part
// of the next request's headers, and Config.SlowBody further connections
// write a POST's headers and the first bytes of its body. It returns once
// those bytes are written (or failed: a failure is recorded as a Result).
// It does nothing outside a run.
func (c *Client) BeforeStop(replica int32, addr string) {
	r := c.enter()
	if r == nil {
		return
	}
	defer r.wg.Done()
	var wg sync.WaitGroup
	for _, k := range []struct {
		kind Kind
		n    int
	}{{Idle, r.cfg.Idle}, {HalfSent, r.cfg.HalfSent}, {SlowBody, r.cfg.SlowBody}} {
		for range k.n {
			wg.Go(func() { r.arm(k.kind, replica, addr) })
		}
	}
	wg.Wait()
}

// AfterStop plays out the hard cases armed on replica, whose SIGTERM was
// sent at at, and returns at once; Run waits for them. Half-sent headers are
// completed Config.HalfSentAfter after at; slow bodies trickle their rest in
// pieces until Config.SlowBodyFor after at; idle connections send a GET
// Config.IdleAfter after at. It does nothing outside a run.
func (c *Client) AfterStop(replica int32, at time.Time) {
	r := c.enter()
	if r == nil {
		return
	}
	defer r.wg.Done()
	r.mu.Lock()
	hcs := r.armed[replica]
	delete(r.armed, replica)
	r.mu.Unlock()
	for _, hc := range hcs {
		r.wg.Go(func() { r.play(hc, at) })
	}
}

// finishHard stops the hooks, drops the cases still waiting for an
// AfterStop, and waits for those being played out.
func (r *run) finishHard() {
	r.mu.Lock()
	r.closing = true
	var drop []*hardConn
	for _, hcs := range r.armed {
		drop = append(drop, hcs...)
	}
	clear(r.armed)
	r.mu.Unlock()
	for _, hc := range drop {
		r.closeConn(hc.c)
	}
	r.wg.Wait()
}

func (r *run) recordHard(res Result) {
	r.mu.Lock()
	r.hard = append(r.hard, res)
	r.mu.Unlock()
	r.prog.add(res.Outcome)
}

// newHard starts the Result of a hard-case request on c.
func (r *run) newHard(kind Kind, c *rawConn, first time.Time) Result {
	r.prog.sent.Add(1)
	at := r.since(first)
	return Result{Seq: r.total + r.seq.Add(1) - 1, Intended: at, Sent: at,
		Conn: c.id, Replica: c.replica, Kind: kind}
}

// arm dials addr and sets up one hard case of kind.
func (r *run) arm(kind Kind, replica int32, addr string) {
	start := time.Now()
	deadline := start.Add(r.cfg.RequestTimeout)
	c, id, _, err := r.dial(endpoint.Endpoint{Addr: addr, Replica: replica}, false, deadline)
	if err != nil {
		if r.ctx.Err() != nil {
			return
		}
		r.prog.sent.Add(1)
		at := r.since(start)
		r.recordHard(Result{Seq: r.total + r.seq.Add(1) - 1, Intended: at, Sent: at,
			Done: r.since(time.Now()), Conn: id, Replica: replica, Kind: kind,
			NewConn: true, Post: kind == SlowBody, Outcome: classify(err)})
		return
	}
	ok := false
	defer func() {
		if !ok {
			r.closeConn(c)
		}
	}()
	var first []byte
	switch kind {
	case Idle, HalfSent:
		// One complete GET first, so the connection is an established,
		// used keep-alive connection like a pooled one.
		// It is ordinary traffic, recorded as Steady: only the request
		// that straddles the SIGTERM counts as the hard case.
		res := r.newHard(Steady, c, start)
		res.NewConn = true
		h, err := c.exchange(c.request(&r.cfg.Request, getOnly, 0), deadline)
		if !r.recordResponse(res, h, err) {
			return
		}
		if err != nil || h.close {
			return // the server ended the connection: nothing to arm
		}
		if kind == HalfSent {
			first = []byte(r.cfg.Request.head(http.MethodGet, c.host, false) + halfSentHead)
		}
	case SlowBody:
		// The run's POST head, its Content-Length that of slowBody.
		head := strings.Replace(r.cfg.Request.head(http.MethodPost, c.host, true),
			"Content-Length: "+strconv.Itoa(len(postBody)), "Content-Length: "+strconv.Itoa(len(slowBody)), 1)
		first = []byte(head + "\r\n" + slowBody[:slowBodyFirst])
	}
	hc := &hardConn{kind: kind, c: c, first: time.Now()}
	if first != nil {
		c.nc.SetDeadline(deadline)
		if _, err := c.nc.Write(first); err != nil {
			if r.ctx.Err() != nil {
				return
			}
			res := r.newHard(kind, c, hc.first)
			res.NewConn, res.Post = kind == SlowBody, kind == SlowBody
			res.Done, res.Outcome = r.since(time.Now()), classify(err)
			r.recordHard(res)
			return
		}
	}
	c.nc.SetDeadline(time.Time{}) // it now waits for AfterStop
	r.mu.Lock()
	if !r.closing && !r.aborted {
		r.armed[replica] = append(r.armed[replica], hc)
		ok = true
	}
	r.mu.Unlock()
}

// play finishes one armed hard case after the SIGTERM at at.
func (r *run) play(hc *hardConn, at time.Time) {
	c := hc.c
	defer r.closeConn(c)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	wait := func(t time.Time) bool { return r.wait(timer, r.since(t)) }

	var res Result
	var err error
	switch hc.kind {
	case Idle:
		if !wait(at.Add(r.cfg.IdleAfter)) {
			return
		}
		// Write without probing for a FIN first, unlike the steady pool:
		// this models the race a pool cannot win, a request already on the
		// wire when the server hangs up an idle connection. A server that
		// closes idle connections at SIGTERM loses this request.
		now := time.Now()
		res = r.newHard(Idle, c, now)
		c.nc.SetDeadline(now.Add(r.cfg.RequestTimeout))
		_, err = c.nc.Write(c.request(&r.cfg.Request, getOnly, 0))
	case HalfSent:
		if !wait(at.Add(r.cfg.HalfSentAfter)) {
			return
		}
		res = r.newHard(HalfSent, c, hc.first)
		c.nc.SetDeadline(time.Now().Add(r.cfg.RequestTimeout))
		_, err = c.nc.Write([]byte(halfSentRest))
	case SlowBody:
		res = r.newHard(SlowBody, c, hc.first)
		res.Post, res.NewConn = true, true
		c.nc.SetDeadline(at.Add(r.cfg.SlowBodyFor + r.cfg.RequestTimeout))
		rest := slowBody[slowBodyFirst:]
		for i := range slowBodyPieces {
			if !wait(at.Add(r.cfg.SlowBodyFor * time.Duration(i+1) / slowBodyPieces)) {
				return
			}
			lo, hi := len(rest)*i/slowBodyPieces, len(rest)*(i+1)/slowBodyPieces
			if _, err = c.nc.Write([]byte(rest[lo:hi])); err != nil {
				break
			}
		}
	}
	if r.ctx.Err() != nil {
		return
	}
	var h respHead
	if err == nil {
		h, err = c.read()
	} else {
		// The server may have answered (say, 503) before it stopped
		// reading; a complete response counts, else the write error does.
		c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if h2, rerr := c.read(); rerr == nil {
			h, err = h2, nil
		}
	}
	r.recordResponse(res, h, err)
}

// recordResponse completes res with the response head or the error seen
// and records it; it reports false, recording nothing, when the run was
// aborted meanwhile.
func (r *run) recordResponse(res Result, h respHead, err error) bool {
	res.Done = r.since(time.Now())
	if r.ctx.Err() != nil {
		return false
	}
	if err != nil {
		res.Outcome = classify(err)
	} else {
		res.Status, res.Outcome, res.ConnClose = uint16(h.status), statusOutcome(h.status, r.cfg.Request.Expect), h.close
	}
	r.recordHard(res)
	return true
}
