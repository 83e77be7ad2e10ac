package drain

import (
	"net/http"
	"time"
)

// Stats is a snapshot of a [Drainer], for logs, expvar or a metrics
// exporter: every field is a plain number or time, so
//
//	expvar.Publish("drain", expvar.Func(func() any { return d.Stats() }))
//
// exports it as JSON. A Stats value is not updated after it is returned.
type Stats struct {
	Phase string // the current Phase's name

	Conns    int // open connections (all states)
	New      int // accepted, no request yet
	Active   int // a request is being received or served
	Idle     int // between requests
	Hijacked int // taken over by a handler (WebSocket, ...)
	HTTP2    int // connections speaking HTTP/2 (also counted above)

	Accepted          uint64 // connections accepted since Run began
	ClosedByPeer      uint64 // closed by the client, or by net/http after "Connection: close"
	ClosedIdle        uint64 // closed by the idle policy during the drain
	ClosedForced      uint64 // closed by the deadline or a second signal
	ClosedIdleTimeout uint64 // closed by the server's own IdleTimeout while serving (never when the caller left it zero)

	DrainStarted time.Time     // zero while serving
	DrainElapsed time.Duration // time since the drain began, or its total once done
}

// Stats returns a snapshot. It is safe to call at any time; it walks the
// connection set, so it costs O(connections).
func (d *Drainer) Stats() Stats {
	d.mu.Lock()
	servers := append([]*server(nil), d.servers...)
	d.mu.Unlock()
	return d.stats(servers)
}

func (d *Drainer) stats(servers []*server) Stats {
	st := Stats{Phase: d.Phase().String()}
	for _, s := range servers {
		s.mu.Lock()
		for c := range s.conns {
			st.Conns++
			if c.h2.Load() {
				st.HTTP2++
			}
			switch http.ConnState(c.state.Load()) {
			case http.StateNew:
				st.New++
			case http.StateActive:
				st.Active++
			case http.StateIdle:
				st.Idle++
			case http.StateHijacked:
				st.Hijacked++
			}
		}
		st.Accepted += s.accepted
		st.ClosedByPeer += s.closed[closedByPeer]
		st.ClosedIdle += s.closed[closedIdle]
		st.ClosedForced += s.closed[closedForced]
		st.ClosedIdleTimeout += s.closed[closedIdleTimeout]
		s.mu.Unlock()
	}
	if start := d.drainStart.Load(); start != 0 {
		st.DrainStarted = time.Unix(0, start)
		end := d.drainEnd.Load()
		if end == 0 {
			end = time.Now().UnixNano()
		}
		st.DrainElapsed = time.Duration(end - start)
	}
	return st
}
