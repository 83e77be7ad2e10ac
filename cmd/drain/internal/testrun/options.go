package testrun

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/router"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

// DefaultSteady is drain test's steady phase before the first SIGTERM
// (--warmup): long enough for every quiet connection (gaps up to 5.5 s,
// started within 320 ms) to send again after a 5 s keep-alive timeout.
const DefaultSteady = 7 * time.Second

// Options are the settings drain test and drain compare share, one field
// per flag (the flag's name in the comment). The zero value is not a
// valid run: the command starts from the flags' defaults.
type Options struct {
	Replicas    int           // --replicas
	Strategy    string        // --rollout: rolling, delete-all, or (drain test --target) KIND/NAME
	ReadyDelay  time.Duration // --ready-delay
	ReadyPath   string        // --ready-path
	TCPReady    bool          // --tcp-ready
	PreStop     time.Duration // --prestop (0: none)
	Propagation time.Duration // --propagation (0: at once)
	SyncPeriod  time.Duration // --sync-period (0: each change on its own)
	Teardown    time.Duration // --teardown (0: never)
	Grace       time.Duration // --grace
	Warmup      time.Duration // --warmup
	Settle      time.Duration // --settle
	PodEnv      bool          // --pod-env
	Network     string        // --network
	Latency     time.Duration // --latency
	Jitter      time.Duration // --jitter
	Router      string        // --router

	Rate      float64       // --rate
	Duration  time.Duration // --duration
	Conns     int           // --conns
	NoReuse   bool          // --no-reuse
	PostRatio float64       // --post-ratio
	Idle      int           // --idle
	HalfSent  int           // --half-sent
	SlowBody  int           // --slow-body
	Client    string        // --client
	Timeout   time.Duration // --timeout
	Expect    string        // --expect

	Quiet        int           // --quiet
	QuietAfter   time.Duration // --quiet-after
	QuietLatency time.Duration // --quiet-latency (0: none)
	Protocol     string        // --protocol
	MaxLatency   time.Duration // --max-latency (0: no latency objective)
}

// check returns a UsageError naming the first bad option, and the parsed
// --expect.
func (f *Options) check() (load.StatusSet, error) {
	set, err := load.ParseStatusSet(f.Expect)
	if err != nil {
		return load.StatusSet{}, Usagef("--expect %q: %v", f.Expect, errors.Unwrap(err))
	}
	switch {
	case f.Replicas < 1:
		return load.StatusSet{}, Usagef("--replicas %d: need at least 1", f.Replicas)
	case f.Strategy != rollout.StrategyRolling && f.Strategy != rollout.StrategyDeleteAll:
		return load.StatusSet{}, Usagef("--rollout %q: use %s or %s", f.Strategy, rollout.StrategyRolling, rollout.StrategyDeleteAll)
	case f.ReadyDelay < 0:
		return load.StatusSet{}, Usagef("--ready-delay %v: need a duration >= 0", f.ReadyDelay)
	case f.Strategy == rollout.StrategyDeleteAll && f.Network == scenario.NetworkKernel:
		return load.StatusSet{}, Usagef("--rollout=%s needs --network=%s: the kernel path's Service does not model the fallback to serving terminating endpoints", rollout.StrategyDeleteAll, scenario.NetworkModel)
	case !(f.Rate > 0):
		return load.StatusSet{}, Usagef("--rate %v: need a positive number of requests per second", f.Rate)
	case f.Duration < 0:
		return load.StatusSet{}, Usagef("--duration %v: need a positive duration, or 0 for automatic", f.Duration)
	case f.Protocol != load.ProtocolH1 && f.Protocol != load.ProtocolH2C && f.Protocol != load.ProtocolH2:
		return load.StatusSet{}, Usagef("--protocol %q: use h1, h2c or h2", f.Protocol)
	case f.Protocol != load.ProtocolH1 && f.Client == load.ClientGo:
		return load.StatusSet{}, Usagef("--protocol %s: HTTP/2 is the raw client's; --client=go speaks HTTP/1.1 here", f.Protocol)
	case f.Quiet < -1 || f.QuietAfter <= 0 || f.QuietLatency < 0:
		return load.StatusSet{}, Usagef("--quiet %d --quiet-after %v: need a count >= -1 and a positive gap", f.Quiet, f.QuietAfter)
	case f.PostRatio < 0 || f.PostRatio > 1:
		return load.StatusSet{}, Usagef("--post-ratio %v: need a number between 0 and 1", f.PostRatio)
	case f.MaxLatency < 0:
		return load.StatusSet{}, Usagef("--max-latency %v: need a duration >= 0 (0: no latency objective)", f.MaxLatency)
	case f.Timeout < 0:
		return load.StatusSet{}, Usagef("--timeout %v: need a duration > 0 (0: the default, %v)", f.Timeout, load.DefaultRequestTimeout)
	case f.Rate > load.MaxRate:
		return load.StatusSet{}, Usagef("--rate %v: at most %d requests per second, more than one load client sends on time", f.Rate, load.MaxRate)
	case f.Warmup < 0 || f.Settle < 0 || f.Grace < 0 || f.PreStop < 0 || f.Propagation < 0 || f.SyncPeriod < 0 || f.Teardown < 0:
		return load.StatusSet{}, Usagef("--warmup, --settle, --grace, --prestop, --propagation, --sync-period and --teardown need durations >= 0")
	case f.Client != load.ClientRaw && f.Client != load.ClientGo:
		return load.StatusSet{}, Usagef("--client %q: use raw or go", f.Client)
	case f.Conns < 1:
		return load.StatusSet{}, Usagef("--conns %d: need at least 1", f.Conns)
	case f.Network != scenario.NetworkModel && f.Network != scenario.NetworkKernel:
		return load.StatusSet{}, Usagef("--network %q: use %s or %s", f.Network, scenario.NetworkModel, scenario.NetworkKernel)
	case f.Latency < 0 || f.Jitter < 0:
		return load.StatusSet{}, Usagef("--latency %v --jitter %v: need durations >= 0", f.Latency, f.Jitter)
	case (f.Latency > 0 || f.Jitter > 0) && f.Network != scenario.NetworkKernel:
		return load.StatusSet{}, Usagef("--latency and --jitter need --network=kernel (the delay comes from a relay in the kernel path)")
	case f.Router != "" && !slices.Contains(router.Names(), f.Router):
		return load.StatusSet{}, Usagef("--router %q: use one of %s", f.Router, strings.Join(router.Names(), ", "))
	case f.Router != "" && f.Network == scenario.NetworkKernel:
		return load.StatusSet{}, Usagef("--router needs --network=%s: the router runs on this host's loopback", scenario.NetworkModel)
	}
	return set, nil
}

// spec is the scenario the options describe, the replicas running command;
// expect is check's parsed --expect. The CLI's 0 for --prestop,
// --propagation, --sync-period and --teardown means none, the Plan's -1.
func (f *Options) spec(command []string, expect load.StatusSet) scenario.Spec {
	plan := rollout.Plan{
		Command:     command,
		Replicas:    f.Replicas,
		Strategy:    f.Strategy,
		ReadyDelay:  f.ReadyDelay,
		ReadyPath:   f.ReadyPath,
		TCPReady:    f.TCPReady,
		PreStop:     f.PreStop,
		Propagation: f.Propagation,
		SyncPeriod:  f.SyncPeriod,
		Teardown:    f.Teardown,
		Grace:       f.Grace,
		Warmup:      f.Warmup,
		Settle:      f.Settle,
	}
	if f.PreStop == 0 {
		plan.PreStop = -1
	}
	if f.Propagation == 0 {
		plan.Propagation = -1
	}
	if f.SyncPeriod == 0 {
		plan.SyncPeriod = -1
	}
	if f.Teardown == 0 {
		plan.Teardown = -1
	}
	if f.PodEnv {
		plan.Env = []string{"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=443"}
	}
	return scenario.Spec{
		Network:    f.Network,
		Latency:    f.Latency,
		Jitter:     f.Jitter,
		Router:     f.Router,
		MaxLatency: f.MaxLatency,
		Plan:       plan,
		Load: load.Config{
			Rate:           f.Rate,
			Duration:       f.Duration,
			Conns:          f.Conns,
			NoReuse:        f.NoReuse,
			PostRatio:      f.PostRatio,
			RequestTimeout: f.Timeout,
			Client:         f.Client,
			Idle:           f.Idle,
			HalfSent:       f.HalfSent,
			SlowBody:       f.SlowBody,
			Request:        load.Request{Expect: expect},
			Protocol:       f.Protocol,
			Quiet:          max(f.Quiet, 0),
			QuietAfter:     f.QuietAfter,
			QuietLatency:   cmp.Or(f.QuietLatency, -1), // 0 is none here, the default in load
		},
	}
}
