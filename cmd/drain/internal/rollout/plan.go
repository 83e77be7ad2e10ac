package rollout

import (
	"context"
	"io"
	"net"
	"time"
)

// Defaults used for a zero field of Plan. The CLI uses the same constants as
// its flag defaults.
const (
	DefaultReplicas      = 2
	DefaultReadyPath     = "/health"
	DefaultReadyTimeout  = 15 * time.Second
	DefaultReadyInterval = 20 * time.Millisecond
	DefaultProbeTimeout  = time.Second // kubelet's timeoutSeconds default
	DefaultPropagation   = 100 * time.Millisecond
	DefaultSyncPeriod    = time.Second // kube-proxy's minSyncPeriod
	DefaultTeardown      = 100 * time.Millisecond
	DefaultGrace         = 30 * time.Second // terminationGracePeriodSeconds
	DefaultStopTimeout   = 5 * time.Second
	DefaultWarmup        = time.Second
	DefaultSettle        = time.Second
)

// The values of Plan.Strategy.
const (
	// StrategyRolling replaces the replicas one at a time, like a
	// Deployment's RollingUpdate with maxSurge 1, maxUnavailable 0 (the
	// default).
	StrategyRolling = "rolling"
	// StrategyDeleteAll deletes every replica at the same moment and lets
	// the replacements start at once, like `kubectl delete pod -l ...` on
	// a ReplicaSet's pods.
	StrategyDeleteAll = "delete-all"
)

// Plan describes the replicas and the timings of a rolling restart. It is
// plain configuration: the zero value of every field means the Default*
// constant named in its doc, so Plan{Command: argv} is a complete plan.
//
// Durations: 0 means the default. A negative PreStop, Propagation,
// SyncPeriod, Warmup or Settle means none (0), a negative Teardown never; a
// negative ReadyTimeout, ReadyInterval, Grace or StopTimeout is treated as
// the default too.
type Plan struct {
	// Command is the replica's argv. Every "{port}" in the arguments is
	// replaced by the replica's port; the environment also gets PORT=<port>.
	Command []string
	// Env is added to the environment drain itself runs with ("KEY=value").
	Env []string

	// Replicas is the number of replicas to run (DefaultReplicas if <= 0).
	Replicas int
	// Strategy is how Roll replaces them: StrategyRolling (the default, if
	// empty) or StrategyDeleteAll; Start fails for any other.
	Strategy string

	// ReadyPath is the readiness probe: an HTTP GET of
	// http://127.0.0.1:<port><ReadyPath>, ready on any status 200-399 (child.Ready)
	// (DefaultReadyPath if empty). With TCPReady set, readiness is a
	// successful TCP dial instead and ReadyPath is ignored.
	ReadyPath string
	TCPReady  bool
	// ReadyTimeout bounds the wait from a replica's start until ready
	// (DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// ReadyInterval is the probe period (DefaultReadyInterval).
	ReadyInterval time.Duration
	// ReadyDelay holds a replacement's first readiness probe back until
	// this long after its start, like a readinessProbe's
	// initialDelaySeconds; ReadyTimeout then counts from the end of the
	// delay. It applies to the replicas Roll starts, not to those of Start.
	// 0 or negative means none.
	ReadyDelay time.Duration

	// PreStop is the sleep between the deletion moment (endpoint removal
	// begins) and SIGTERM, like a preStop sleep hook (none by default).
	PreStop time.Duration
	// Propagation is how long an endpoint change takes to reach kube-proxy
	// and its rules, sync aside: the watch and the rule update. A removal
	// counts from the deletion moment, a replacement's addition from its
	// readiness. DefaultPropagation (100 ms, the fastest removal measured
	// on a real cluster: docs/kubernetes.md); negative means immediate.
	Propagation time.Duration
	// SyncPeriod batches the endpoint changes the way kube-proxy's
	// minSyncPeriod does: changes reach the client only at sync moments at
	// least SyncPeriod apart. A change (Propagation after it happened)
	// starts a sync at once if the last one began SyncPeriod or longer
	// ago; otherwise it waits for the sync SyncPeriod after the last, which
	// applies every change pending by then, in order. Besides additions
	// and removals, a replacement's start (kube-proxy sees a new, not yet
	// ready endpoint) and a replica's exit (its endpoint leaves the
	// EndpointSlice) start syncs too: so a replacement that becomes ready
	// right after its start is routable only at the sync a SyncPeriod
	// later, the same one that removes the replica it replaces.
	// DefaultSyncPeriod (1 s); negative means none: every change reaches
	// the client Propagation after it happened.
	SyncPeriod time.Duration
	// Teardown is how long after a replica's process exits its address
	// stops answering, like a pod whose sandbox and network are deleted
	// once its container exits: until then a new connection to it is
	// refused (nothing listens), from then on it goes unanswered (the SYN
	// is dropped) and the client waits out its timeout.
	// DefaultTeardown (100 ms: container exit to its pod's veth deleted,
	// 0.08–0.17 s, median 0.09 s, on a real cluster: docs/kubernetes.md);
	// negative means never (refused to the end).
	// Replicas stopped by Stop keep their address.
	Teardown time.Duration
	// Blackhole, if set, makes a replica's address drop new connections
	// Teardown after its exit; replica and addr are the exited replica's
	// number and address; the returned Closer (may be nil) undoes it and
	// is closed by Stop. Nil means a listener on addr whose accept queue
	// is full, so the kernel drops every further SYN to it.
	Blackhole func(replica int32, addr string) (io.Closer, error)
	// Grace is how long after SIGTERM the process group gets SIGKILL, like
	// terminationGracePeriodSeconds (DefaultGrace).
	Grace time.Duration
	// StopTimeout bounds Stop's wait between SIGTERM and SIGKILL for the
	// replicas still running at the end of the run (DefaultStopTimeout, but
	// never more than Grace).
	StopTimeout time.Duration

	// Warmup is how long Roll lets the load run before the first restart
	// (DefaultWarmup; negative means none).
	Warmup time.Duration
	// Settle is how long Roll waits after each replacement before the next
	// one, and after the last (DefaultSettle; negative means none).
	Settle time.Duration

	// Stdout and Stderr receive the replicas' output (discarded if nil).
	// Writes from several replicas are serialized. The last lines of each
	// replica's stderr are also kept for error messages.
	Stdout io.Writer
	Stderr io.Writer

	// Wrap, if set, rewrites each replica's argv right before it is
	// started, after the "{port}" substitution: to run it through another
	// program that then execs it, such as `ip netns exec NAME` to start it
	// in a network namespace. The wrapper must exec the argv (keep the pid),
	// or signals reach the wrapper instead of the replica. Error messages
	// show the argv before Wrap. Nil means the argv as is.
	Wrap func(argv []string) []string
	// Dial, if set, opens the readiness probes' connections (both the
	// TCPReady dial and the HTTP GET) to 127.0.0.1:<port>, for replicas
	// that are reachable only through it (inside a network namespace). It
	// must be safe for concurrent use. Nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnEvent, if set, is called with each Event as it is recorded, one call
	// at a time and in order. It must return quickly and must not call the
	// Runner's Start, Roll or Stop.
	OnEvent func(Event)
}

// MaxDuration is the longest Start and Roll of p can take together when
// every replica is slow to become ready (ReadyDelay and ReadyTimeout each
// time) and the last one needs its whole Grace, plus 5 s for propagation,
// syncs and exits: a load meant to last until the rollout ends can take
// it as its schedule (the caller stops the load when Roll returns).
// Defaults apply as in New.
func (p Plan) MaxDuration() time.Duration {
	p = p.withDefaults()
	per := p.ReadyDelay + p.ReadyTimeout + p.Settle + p.PreStop
	return p.Warmup + time.Duration(p.Replicas)*per + p.Grace + p.Settle + 5*time.Second
}

// withDefaults returns p with every zero field set to its default.
func (p Plan) withDefaults() Plan {
	if p.Replicas <= 0 {
		p.Replicas = DefaultReplicas
	}
	if p.ReadyPath == "" {
		p.ReadyPath = DefaultReadyPath
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.ReadyTimeout, DefaultReadyTimeout)
	def(&p.ReadyInterval, DefaultReadyInterval)
	def(&p.Grace, DefaultGrace)
	def(&p.StopTimeout, DefaultStopTimeout)
	if p.StopTimeout > p.Grace {
		p.StopTimeout = p.Grace
	}
	zeroOrDef := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0
		}
	}
	zeroOrDef(&p.Propagation, DefaultPropagation)
	zeroOrDef(&p.SyncPeriod, DefaultSyncPeriod)
	if p.Teardown == 0 {
		p.Teardown = DefaultTeardown
	}
	zeroOrDef(&p.Warmup, DefaultWarmup)
	zeroOrDef(&p.Settle, DefaultSettle)
	if p.PreStop < 0 {
		p.PreStop = 0
	}
	if p.ReadyDelay < 0 {
		p.ReadyDelay = 0
	}
	if p.Strategy == "" {
		p.Strategy = StrategyRolling
	}
	return p
}
