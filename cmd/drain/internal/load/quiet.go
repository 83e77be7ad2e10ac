package load

import "time"

// The quiet connections (Config.Quiet): a low-traffic client's pool. Each
// connection sends, goes quiet for its gap (about a keep-alive timeout) and
// sends again, for the whole run, so a server that closes idle connections
// after about that long (a drain library's steady-state default, say) is
// seen to lose requests between rollouts, not only during one.

// quietGap is connection i's gap of n: spread evenly over after ± spread.
func quietGap(i, n int, after, spread time.Duration) time.Duration {
	if n <= 1 {
		return after
	}
	return after - spread + time.Duration(int64(2*spread)*int64(i)/int64(n-1))
}

// quiet runs quiet connection i until the steady load ends (r.done) or
// the run is aborted. Its requests are recorded like the hard cases'.
func (r *run) quiet(i int) {
	q := &r.cfg.Request
	methods := q.methods()
	mi := 1 // POST of the GET/POST mix: no client retries it
	if len(q.Methods) > 0 {
		mi = i % len(methods)
	}
	gap := quietGap(i, r.cfg.Quiet, r.cfg.QuietAfter, r.cfg.QuietSpread)
	var c *rawConn
	defer func() {
		if c != nil {
			r.closeConn(c)
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sleep := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-r.done:
		case <-r.ctx.Done():
		}
		timer.Stop()
		return false
	}
	// Staggered starts: not every quiet connection on the same tick.
	if !sleep(time.Duration(i) * 10 * time.Millisecond) {
		return
	}
	if r.h2 != nil {
		r.quietH2(methods[mi], gap, sleep)
		return
	}
	for {
		now := time.Now()
		res := Result{Seq: r.total + r.seq.Add(1) - 1, Intended: r.since(now), Kind: Quiet, Post: hasBody(methods[mi]), Replica: -1}
		r.prog.sent.Add(1)
		if c != nil && !c.idle.usable() {
			r.closeConn(c) // the pool saw the server's FIN: a new connection
			c = nil
		}
		if c != nil && !sleep(2*r.cfg.QuietLatency) { // the FIN and the request in flight
			return
		}
		c = r.doRaw(c, methods, mi, &res, now.Add(r.cfg.RequestTimeout))
		if r.ctx.Err() != nil {
			return
		}
		r.recordHard(res)
		if !sleep(gap - time.Since(r.start.Add(res.Done))) {
			return
		}
	}
}

// quietH2 is a quiet connection of an HTTP/2 load (Protocol h2c, h2): one
// HTTP/2 connection, one stream per gap. A connection the server sent
// GOAWAY on (an HTTP/2 server's idle timeout ends that way) or closed is
// replaced before the next stream, as a pooled client's is; a GOAWAY that
// crosses the stream (QuietLatency) leaves it unprocessed: outcome goaway.
func (r *run) quietH2(method string, gap time.Duration, sleep func(time.Duration) bool) {
	var h *h2Conn
	defer func() {
		if h != nil {
			h.nc.Close()
			<-h.done
		}
	}()
	for {
		now := time.Now()
		res := Result{Seq: r.total + r.seq.Add(1) - 1, Intended: r.since(now), Kind: Quiet, Post: hasBody(method), Replica: -1}
		r.prog.sent.Add(1)
		deadline := now.Add(r.cfg.RequestTimeout)
		if h != nil && !h.usable() {
			h.nc.Close() // the pool saw the GOAWAY or the close: a new connection
			<-h.done
			h = nil
		}
		if h != nil && !sleep(2*r.cfg.QuietLatency) { // the GOAWAY and the stream in flight
			return
		}
		if h == nil {
			res.NewConn = true
			var err error
			h, res.Conn, res.Replica, err = r.dialH2(deadline)
			if err != nil {
				h = nil
				res.Sent = r.since(now)
				res.Done, res.Outcome = r.since(time.Now()), classifyH2(err)
			}
		}
		if h != nil {
			res.Conn, res.Replica = h.id, h.replica
			res.Sent = r.since(time.Now())
			status, err := h.roundTrip(&r.cfg.Request, method, h.nc.RemoteAddr().String(), deadline)
			res.Done = r.since(time.Now())
			if err != nil {
				res.Outcome = classifyH2(err)
			} else {
				res.Status, res.Outcome = uint16(status), statusOutcome(status, r.cfg.Request.Expect)
			}
		}
		if r.ctx.Err() != nil {
			return
		}
		r.recordHard(res)
		if !sleep(gap - time.Since(r.start.Add(res.Done))) {
			return
		}
	}
}
