package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// ErrRunning is returned by [Client.Run] while another run of the same
// Client is in progress.
var ErrRunning = errors.New("load: client is already running")

// errNoEndpoint is a dial with an empty endpoint list. It counts as Refused:
// a Kubernetes Service without ready endpoints rejects new connections.
var errNoEndpoint = fmt.Errorf("load: no ready endpoint: %w", syscall.ECONNREFUSED)

// errTLS marks a failed TLS handshake (outcome Other; Probe names it).
var errTLS = errors.New("TLS handshake")

// maxResults bounds the preallocated result slice (48 bytes each: 3 GiB).
const maxResults = 1 << 26

// Client is the load client. Create it with [NewClient] and call
// [Client.Run]; runs are sequential (one at a time) and each is independent.
// BeforeStop, AfterStop and Progress are safe to call concurrently with Run
// (from a rollout goroutine, a progress line); BeforeStop and AfterStop do
// nothing between runs. The method set matches rollout.Hooks, so a *Client
// can be handed to a rollout as its hooks.
type Client struct {
	cfg    Config // with defaults applied
	target endpoint.Target

	mu     sync.Mutex
	cur    *run      // the run in progress, nil between runs
	origin time.Time // the start of the last Run

	prog progress
}

// NewClient checks cfg (a usage error wraps ErrConfig) and returns a Client
// that dials new connections to target's endpoints.
func NewClient(cfg Config, target endpoint.Target) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if target == nil {
		return nil, fmt.Errorf("%w: nil target", ErrConfig)
	}
	if total := (Schedule{Rate: cfg.Rate, Duration: cfg.Duration}).Total(); total > maxResults {
		return nil, fmt.Errorf("%w: %d requests exceed the limit of %d per run", ErrConfig, total, maxResults)
	}
	return &Client{cfg: cfg, target: target}, nil
}

// Run is shorthand for NewClient followed by [Client.Run].
func Run(ctx context.Context, cfg Config, target endpoint.Target) ([]Result, error) {
	c, err := NewClient(cfg, target)
	if err != nil {
		return nil, err
	}
	return c.Run(ctx)
}

// Config returns the client's configuration with the defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Run sends the schedule's requests over the configured connections and
// returns one Result per request, sorted by Intended (then Seq): every steady
// request of the schedule (Seq 0 to Total-1) and every hard-case request set
// up by BeforeStop during the run.
//
// A request that waited for a busy connection until its timeout passed is
// never sent: it is a Timeout with Sent == Done and Status 0.
//
// Run returns after Duration once the outstanding requests have finished,
// which takes at most RequestTimeout more; the hard cases armed by
// BeforeStop finish too (after their AfterStop delays), while armed cases
// whose AfterStop never came are dropped without a Result.
//
// When ctx is done Run stops at once: it sends nothing more, aborts the
// requests in flight without recording them, and returns the Results
// completed so far with ctx's error. Otherwise the error is nil. No goroutine
// started by Run outlives it.
func (c *Client) Run(ctx context.Context) ([]Result, error) {
	sched := Schedule{Rate: c.cfg.Rate, Duration: c.cfg.Duration}
	total := sched.Total()
	r := &run{
		c:       c,
		cfg:     &c.cfg,
		ctx:     ctx,
		sched:   sched,
		total:   total,
		results: make([]Result, total),
		filled:  make([]bool, total),
		conns:   make(map[net.Conn]struct{}),
		armed:   make(map[int32][]*hardConn),
		prog:    &c.prog,
		done:    make(chan struct{}),
		start:   time.Now(), // before c.cur publishes r: Finish and the hooks read it
		lazy:    lazyExchanges(&c.cfg),
	}
	r.limit.Store(total)
	c.mu.Lock()
	if c.cur != nil {
		c.mu.Unlock()
		return nil, ErrRunning
	}
	c.cur = r
	c.origin = r.start
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()

	c.prog.reset(total)
	if c.cfg.Client == ClientGo {
		r.tr = r.newTransport()
		defer r.tr.CloseIdleConnections()
	}
	if c.cfg.Protocol != ProtocolH1 {
		r.h2 = &h2Pool{mu: make([]sync.Mutex, c.cfg.H2Conns), slots: make([]*h2Conn, c.cfg.H2Conns)}
		defer r.closeH2()
	}
	stop := context.AfterFunc(ctx, r.abort)
	defer stop()

	var wg, quiet sync.WaitGroup
	for i := range c.cfg.Quiet {
		quiet.Go(func() { r.quiet(i) })
	}
	for range c.cfg.Conns {
		wg.Go(r.steady)
	}
	wg.Wait()
	close(r.done) // the quiet connections' next requests are not sent
	quiet.Wait()
	r.finishHard()

	// Compact the recorded steady requests in place (the write index never
	// passes the read index): no copy of the run's biggest allocation.
	// They are in schedule order, which is (Intended, Seq) order.
	out := r.results[:0]
	for i, ok := range r.filled {
		if ok {
			out = append(out, r.results[i])
		}
	}
	r.results = nil
	if len(r.hard) > 0 {
		out = append(out, r.hard...)
		slices.SortStableFunc(out, func(a, b Result) int {
			if a.Intended != b.Intended {
				if a.Intended < b.Intended {
					return -1
				}
				return 1
			}
			if a.Seq < b.Seq {
				return -1
			} else if a.Seq > b.Seq {
				return 1
			}
			return 0
		})
	}
	return out, ctx.Err()
}

// Origin returns the moment the last [Client.Run] began: its Results'
// Intended, Sent and Done times count from it. Zero before any Run.
func (c *Client) Origin() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin
}

// Finish ends the current run's schedule now: requests whose intended time
// has not come are not sent (and get no Result), those already due still
// go out, and Run returns once they and the armed hard cases are done. It
// lets a caller end the load when an external event (the rollout's end)
// happens rather than at a fixed Duration. It does nothing outside a run.
func (c *Client) Finish() {
	c.mu.Lock()
	r := c.cur
	c.mu.Unlock()
	if r == nil {
		return
	}
	elapsed := time.Since(r.start)
	n := uint64(elapsed.Seconds() * r.sched.Rate)
	for n < r.total && r.sched.At(n) < elapsed {
		n++
	}
	for {
		cur := r.limit.Load()
		if n >= cur || r.limit.CompareAndSwap(cur, n) {
			break
		}
	}
	r.c.prog.total.Store(min(r.c.prog.total.Load(), n))
}

// lazyGap is the least mean time between one connection's requests for
// which a run's steady exchanges are lazy (see lazy_linux.go). A connection
// then stays busy up to about a millisecond longer, and the process wakes
// less often, so the sends due wait for the runtime's 1 ms timer wake-up
// more often: measured at 32 connections (bench/load-client-ab), the share
// of requests sent more than 1 ms late stayed at 11-12 % at 5k requests/s
// (6.4 ms between a connection's requests) but went from 10 to 17 % at 10k
// and from 9 to 19-24 % at 16k.
const lazyGap = 4 * time.Millisecond

// lazyExchanges reports whether a run of cfg makes its steady HTTP/1.1
// exchanges lazy: the raw client's, when each connection waits lazyGap or
// more between requests on average.
func lazyExchanges(cfg *Config) bool {
	return (cfg.Client == ClientRaw || cfg.Client == "") && (cfg.Protocol == ProtocolH1 || cfg.Protocol == "") &&
		float64(cfg.Conns)/cfg.Rate >= lazyGap.Seconds()
}

// run is the state of one Run.
type run struct {
	c     *Client
	cfg   *Config
	ctx   context.Context
	start time.Time
	sched Schedule
	total uint64
	prog  *progress
	tr    *http.Transport // ClientGo only
	h2    *h2Pool         // Protocol h2c and h2 only
	lazy  bool            // steady exchanges collect responses on the tick (lazy_linux.go)

	next   atomic.Uint64 // next steady request to claim
	connID atomic.Uint32 // last connection number given out
	seq    atomic.Uint64 // hard-case requests numbered after total
	limit  atomic.Uint64 // Finish lowers it: no request at or after it is sent
	done   chan struct{} // closed when the steady load has ended

	// results[n] is steady request n, written only by the worker that
	// claimed n; filled[n] says it was recorded (not aborted). Memory per
	// scheduled request: 48 + 1 bytes, allocated up front.
	results []Result
	filled  []bool

	mu      sync.Mutex
	aborted bool                  // ctx is done
	closing bool                  // Run is ending: hooks do nothing
	conns   map[net.Conn]struct{} // open raw connections, to abort
	armed   map[int32][]*hardConn // hard cases waiting for AfterStop
	hard    []Result
	wg      sync.WaitGroup // hook calls and hard-case goroutines
}

func (r *run) since(t time.Time) time.Duration { return t.Sub(r.start) }

// abort runs when ctx is done: it ends every read, write and wait.
func (r *run) abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aborted = true
	for nc := range r.conns {
		nc.SetDeadline(time.Unix(1, 0))
	}
}

// track registers an open connection for abort; false if already aborted.
func (r *run) track(nc net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aborted {
		return false
	}
	r.conns[nc] = struct{}{}
	return true
}

func (r *run) closeConn(c *rawConn) {
	r.mu.Lock()
	delete(r.conns, c.nc)
	r.mu.Unlock()
	c.close()
}

// dial opens a connection to ep (or a picked endpoint when pick is true).
// On error the returned id and replica still describe the attempt.
func (r *run) dial(ep endpoint.Endpoint, pick bool, deadline time.Time) (*rawConn, uint32, int32, error) {
	id := r.connID.Add(1)
	if pick {
		var ok bool
		if ep, ok = r.c.target.Pick(); !ok {
			return nil, id, -1, errNoEndpoint
		}
	}
	nc, replica, err := r.dialEndpoint(r.ctx, ep, deadline)
	if err != nil {
		return nil, id, ep.Replica, err
	}
	ep.Replica = replica
	if !r.track(nc) {
		nc.Close()
		return nil, id, ep.Replica, context.Canceled
	}
	tcp := nc
	if r.cfg.Request.TLS != nil {
		tc, err := r.handshake(nc, deadline)
		if err != nil {
			r.mu.Lock()
			delete(r.conns, nc)
			r.mu.Unlock()
			nc.Close()
			return nil, id, ep.Replica, err
		}
		nc = tc
	}
	return newRawConn(nc, tcp, id, ep), id, ep.Replica, nil
}

// handshake runs a TLS client handshake on nc before deadline. The abort
// reaches it through nc's deadline (nc is tracked).
func (r *run) handshake(nc net.Conn, deadline time.Time) (*tls.Conn, error) {
	tc := tls.Client(nc, r.cfg.Request.TLS)
	nc.SetDeadline(deadline)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	return tc, nil
}

// dialEndpoint opens a connection to ep before deadline (none if zero)
// with Config.Dial or else a net.Dialer, and returns the replica it
// reached: the one Config.Dial reports, or ep.Replica.
func (r *run) dialEndpoint(ctx context.Context, ep endpoint.Endpoint, deadline time.Time) (net.Conn, int32, error) {
	if r.cfg.Dial == nil {
		d := net.Dialer{Deadline: deadline}
		nc, err := d.DialContext(ctx, "tcp", ep.Addr)
		return nc, ep.Replica, err
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	nc, replica, err := r.cfg.Dial(ctx, ep)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, ep.Replica, err
	}
	return nc, replica, nil
}

// wait sleeps until offset at from the start; false when ctx is done first.
func (r *run) wait(t *time.Timer, at time.Duration) bool {
	d := time.Until(r.start.Add(at))
	if d <= 0 {
		return r.ctx.Err() == nil
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		t.Stop()
		return false
	}
}

// steady is one connection slot of the open-loop load: it claims the next
// request of the schedule, waits for its intended time (or not at all when
// it is already late: it queued behind busy connections) and sends it.
func (r *run) steady() {
	var conn *rawConn
	methods := r.cfg.Request.methods()
	defer func() {
		if conn != nil {
			r.closeConn(conn)
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		n := r.next.Add(1) - 1
		if n >= r.total || n >= r.limit.Load() || r.ctx.Err() != nil {
			return
		}
		intended := r.sched.At(n)
		if !r.wait(timer, intended) || n >= r.limit.Load() {
			return
		}
		r.prog.sent.Add(1)
		mi := r.cfg.Request.methodIndex(n, r.cfg.PostRatio)
		res := Result{Seq: n, Intended: intended, Kind: Steady, Post: hasBody(methods[mi]), Replica: -1}
		deadline := r.start.Add(intended + r.cfg.RequestTimeout)
		if r.h2 != nil {
			r.doH2(&res, methods[mi], deadline)
		} else if r.tr != nil {
			r.doGo(&res, methods[mi], deadline)
		} else {
			if conn != nil && (r.cfg.NoReuse || !conn.idle.usable()) {
				r.closeConn(conn)
				conn = nil
			}
			conn = r.doRaw(conn, methods, mi, &res, deadline)
		}
		if r.ctx.Err() != nil {
			return // aborted: the request in flight is not recorded
		}
		r.results[n] = res
		r.filled[n] = true
		r.prog.add(res.Outcome)
	}
}

// doRaw sends the request described by res on c (or a new connection when c
// is nil) and fills in res. It returns the connection to use next, nil when
// it was closed.
func (r *run) doRaw(c *rawConn, methods []string, mi int, res *Result, deadline time.Time) *rawConn {
	now := time.Now()
	res.Sent = r.since(now)
	if !now.Before(deadline) { // queued past its timeout: never sent
		res.Done, res.Outcome = res.Sent, Timeout
		if c != nil {
			res.Conn, res.Replica = c.id, c.replica
		}
		return c
	}
	if c == nil {
		res.NewConn = true
		var err error
		c, res.Conn, res.Replica, err = r.dial(endpoint.Endpoint{}, true, deadline)
		if err != nil {
			res.Done, res.Outcome = r.since(time.Now()), classify(err)
			return nil
		}
		if r.lazy && c.fast != nil {
			c.fast.setLazy()
		}
	}
	res.Conn, res.Replica = c.id, c.replica
	h, err := c.exchange(c.request(&r.cfg.Request, methods, mi), deadline)
	res.Done = r.since(c.doneAt(now, time.Now()))
	if err != nil {
		res.Outcome = classify(err)
		r.closeConn(c)
		return nil
	}
	res.Status = uint16(h.status)
	res.Outcome = statusOutcome(h.status, r.cfg.Request.Expect)
	res.ConnClose = h.close
	if h.close || r.cfg.NoReuse {
		r.closeConn(c)
		return nil
	}
	return c
}

// Progress is a snapshot of the current (or last) run, for a live progress
// line. Sent counts the requests started, steady and hard cases; OK and Lost
// those finished (Lost: any outcome but OK); the rest are in flight.
type Progress struct {
	Total uint64 // steady requests in the schedule
	Sent  uint64
	OK    uint64
	Lost  uint64
}

// Progress returns a snapshot of the current or last run. It is safe to call
// concurrently with Run.
func (c *Client) Progress() Progress {
	return Progress{
		Total: c.prog.total.Load(),
		Sent:  c.prog.sent.Load(),
		OK:    c.prog.ok.Load(),
		Lost:  c.prog.lost.Load(),
	}
}

type progress struct {
	total, sent, ok, lost atomic.Uint64
}

func (p *progress) reset(total uint64) {
	p.total.Store(total)
	p.sent.Store(0)
	p.ok.Store(0)
	p.lost.Store(0)
}

func (p *progress) add(o Outcome) {
	if o == OK {
		p.ok.Add(1)
	} else {
		p.lost.Add(1)
	}
}
