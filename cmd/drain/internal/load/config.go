package load

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// Defaults for the zero fields of [Config].
const (
	DefaultConns          = 32                     // persistent connections of the steady load (drain test --conns)
	DefaultRequestTimeout = 10 * time.Second       // per request, from its intended time
	DefaultIdle           = 4                      // idle connections per stopped replica
	DefaultHalfSent       = 4                      // half-sent requests per stopped replica
	DefaultSlowBody       = 2                      // slow-body POSTs per stopped replica
	DefaultHalfSentAfter  = 300 * time.Millisecond // headers complete this long after SIGTERM
	DefaultIdleAfter      = 1 * time.Second        // idle connections send this long after SIGTERM
	DefaultSlowBodyFor    = 500 * time.Millisecond // slow bodies trickle over this long after SIGTERM
	DefaultQuiet          = 32                     // quiet connections drain test runs (Config.Quiet's zero is none)
	DefaultQuietAfter     = 5 * time.Second        // their quiet gap: the keep-alive timeout in play (Node's, the drain library's in-cluster default)
	DefaultQuietSpread    = 500 * time.Millisecond // their gaps spread over QuietAfter ± this (a server may enforce its timeout up to a tenth late: the drain library sweeps every tenth)
	DefaultQuietLatency   = 5 * time.Millisecond   // one-way latency modelled between a quiet connection's check and its request's arrival
)

// Client implementations for [Config.Client].
const (
	ClientRaw = "raw" // the package's own HTTP/1.1 client: never retries
	ClientGo  = "go"  // net/http's Transport, with its automatic retries
)

// Config describes one load run. Only Rate and Duration must be set: every
// other zero field means the Default* constant named in its doc.
type Config struct {
	// Rate is the constant arrival rate in requests per second. It must be
	// > 0; zero is a usage error, not "as fast as possible".
	Rate float64
	// Duration is how long requests are scheduled; it must be > 0. The run
	// then waits for outstanding requests, at most RequestTimeout longer.
	Duration time.Duration
	// Conns is the number of connections the steady load is spread over,
	// which bounds its concurrency: a request that comes due while all are
	// busy waits its turn, and the wait counts in its latency. 0 means
	// DefaultConns; negative is a usage error.
	Conns int
	// NoReuse dials a new connection for every request (and closes it after
	// the response) instead of keeping Conns persistent connections.
	NoReuse bool
	// PostRatio in [0, 1] is the share of steady requests sent as POST with
	// a small body; the rest are GET. The mix is deterministic: request n is
	// a POST when floor((n+1)*PostRatio) > floor(n*PostRatio), so 0.25 makes
	// every 4th request a POST.
	PostRatio float64
	// RequestTimeout bounds each request, counted from its intended send
	// time (so time queued for a busy connection counts): a request without
	// a complete response by then is a Timeout. 0 means
	// DefaultRequestTimeout; negative is a usage error.
	RequestTimeout time.Duration
	// Client selects the HTTP client: ClientRaw ("" too) or ClientGo.
	Client string
	// Protocol is the steady load's protocol: ProtocolH1 ("" too),
	// ProtocolH2C or ProtocolH2 (which needs Request.TLS). Over HTTP/2 the
	// steady requests are streams spread over H2Conns connections (0:
	// DefaultH2Conns), request n on connection n % H2Conns, never retried
	// (GoAway and RefusedStream are their own outcomes); each quiet
	// connection is an HTTP/2 connection of its own, one stream per gap. The
	// hard cases stay HTTP/1.1: half-sent headers and a trickled body are
	// HTTP/1.1 framing, and an idle HTTP/2 connection across SIGTERM is
	// what the quiet connections and the steady pool already are.
	Protocol string
	H2Conns  int
	// Request shapes every request: path, Host, extra headers, methods,
	// TLS and the statuses that count as OK. The zero value is GET and
	// POST of / in clear text, 2xx expected.
	Request Request
	// Dial, if set, opens every connection of the run (steady load and hard
	// cases, both clients) instead of a net.Dialer: ep is the endpoint the
	// Target picked (or the replica a hard case must reach), ctx carries the
	// request's deadline and the run's cancellation. It returns the replica
	// the connection actually reached, which the Results record: a dialer
	// that routes by itself (a kernel Service behind a virtual IP, whose
	// Pick says Replica -1) learns it only once connected; -1 means unknown.
	// It must be safe for concurrent use. Nil means net.Dialer.DialContext
	// to ep.Addr, reaching ep.Replica.
	Dial func(ctx context.Context, ep endpoint.Endpoint) (nc net.Conn, replica int32, err error)

	// The hard cases set up by [Client.BeforeStop] on each replica about to
	// be stopped: numbers of connections, 0 meaning the Default* constant
	// and a negative number none at all.
	Idle, HalfSent, SlowBody int
	// Delays after the SIGTERM (the time given to [Client.AfterStop]): 0
	// means the Default* constant; negative is a usage error.
	HalfSentAfter time.Duration // when half-sent headers are completed
	IdleAfter     time.Duration // when idle connections send their request
	SlowBodyFor   time.Duration // how long slow bodies trickle

	// Quiet is the number of quiet connections (0 or negative: none,
	// unlike the fields above; drain test runs DefaultQuiet): for the whole run, each sends one request, stays quiet for
	// its gap and sends again, as a low-traffic client's pool does. The
	// gaps are spread evenly over QuietAfter ± QuietSpread, so some land
	// just before, some just after a server's keep-alive timeout of about
	// QuietAfter. Before each reuse the connection is checked like the
	// steady pool's (a FIN seen: a new connection, no loss), then the
	// request reaches the server 2 x QuietLatency later: the time the
	// server's FIN and the request spend on a network with that one-way
	// latency, in which a close and a request cross. Such a request is
	// lost by any client, which is why a server's keep-alive timeout must
	// be longer than its clients' (and routers') idle timeouts. Their
	// Results have Kind Quiet; they use the run's methods in turn, POST
	// (which no client retries) when it has its own GET/POST mix. Zero
	// durations mean the defaults; a negative QuietLatency none (the
	// network path has latency of its own).
	Quiet        int
	QuietAfter   time.Duration
	QuietSpread  time.Duration
	QuietLatency time.Duration
}

// MaxRate is the highest Config.Rate accepted: one client process cannot
// keep an open-loop schedule faster than this, and its Results would need
// gigabytes.
const MaxRate = 100_000

// Validate reports what [NewClient] would reject in cfg (an error wrapping
// ErrConfig), so a caller can check its input before starting anything.
func (cfg Config) Validate() error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if total := (Schedule{Rate: cfg.Rate, Duration: cfg.Duration}).Total(); total > maxResults {
		return fmt.Errorf("%w: %d requests exceed the limit of %d per run", ErrConfig, total, maxResults)
	}
	return nil
}

// withDefaults returns cfg with zero fields set to the defaults, or a usage
// error wrapping ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
	if err := (Schedule{Rate: cfg.Rate, Duration: cfg.Duration}).Validate(); err != nil {
		return cfg, err
	}
	if cfg.Rate > MaxRate {
		return cfg, fmt.Errorf("%w: rate %v is above %v requests per second, more than one load client can send on time", ErrConfig, cfg.Rate, float64(MaxRate))
	}
	if err := cfg.Request.check(); err != nil {
		return cfg, err
	}
	switch cfg.Protocol {
	case "", ProtocolH1:
		cfg.Protocol = ProtocolH1
	case ProtocolH2C:
		if cfg.Request.TLS != nil {
			return cfg, fmt.Errorf("%w: protocol h2c is clear text: use h2 over TLS", ErrConfig)
		}
	case ProtocolH2:
		if cfg.Request.TLS == nil {
			return cfg, fmt.Errorf("%w: protocol h2 needs TLS (an https target); h2c is HTTP/2 in clear text", ErrConfig)
		}
		tc := cfg.Request.TLS.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		cfg.Request.TLS = tc
	default:
		return cfg, fmt.Errorf("%w: protocol %q: use h1, h2c or h2", ErrConfig, cfg.Protocol)
	}
	if cfg.Protocol != ProtocolH1 && cfg.Client == ClientGo {
		return cfg, fmt.Errorf("%w: the go client speaks HTTP/1.1 here; HTTP/2 is the raw client's", ErrConfig)
	}
	if cfg.H2Conns < 0 {
		return cfg, fmt.Errorf("%w: h2 conns %d is negative", ErrConfig, cfg.H2Conns)
	}
	if cfg.H2Conns == 0 {
		cfg.H2Conns = DefaultH2Conns
	}
	if cfg.Conns < 0 {
		return cfg, fmt.Errorf("%w: conns %d is negative", ErrConfig, cfg.Conns)
	}
	if !(cfg.PostRatio >= 0 && cfg.PostRatio <= 1) {
		return cfg, fmt.Errorf("%w: post ratio %v is not in [0, 1]", ErrConfig, cfg.PostRatio)
	}
	switch cfg.Client {
	case "":
		cfg.Client = ClientRaw
	case ClientRaw, ClientGo:
	default:
		return cfg, fmt.Errorf("%w: client %q is neither %q nor %q", ErrConfig, cfg.Client, ClientRaw, ClientGo)
	}
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		} else if *p < 0 {
			*p = 0
		}
	}
	def(&cfg.Conns, DefaultConns)
	def(&cfg.Idle, DefaultIdle)
	def(&cfg.HalfSent, DefaultHalfSent)
	def(&cfg.SlowBody, DefaultSlowBody)
	cfg.Quiet = max(cfg.Quiet, 0)
	switch {
	case cfg.QuietLatency == 0:
		cfg.QuietLatency = DefaultQuietLatency
	case cfg.QuietLatency < 0:
		cfg.QuietLatency = 0
	}
	for _, d := range []struct {
		p    *time.Duration
		def  time.Duration
		name string
	}{
		{&cfg.RequestTimeout, DefaultRequestTimeout, "request timeout"},
		{&cfg.HalfSentAfter, DefaultHalfSentAfter, "half-sent delay"},
		{&cfg.IdleAfter, DefaultIdleAfter, "idle delay"},
		{&cfg.SlowBodyFor, DefaultSlowBodyFor, "slow-body duration"},
		{&cfg.QuietAfter, DefaultQuietAfter, "quiet gap"},
		{&cfg.QuietSpread, DefaultQuietSpread, "quiet spread"},
	} {
		if *d.p < 0 {
			return cfg, fmt.Errorf("%w: %s %v is negative", ErrConfig, d.name, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	return cfg, nil
}

// isPost reports whether steady request n is a POST for the given ratio.
func isPost(n uint64, ratio float64) bool {
	if ratio <= 0 {
		return false
	}
	return uint64(float64(n+1)*ratio) > uint64(float64(n)*ratio)
}
