// Package scenario joins a rollout and a load run into one measured rolling
// restart: replicas start, load runs against their endpoints, the rollout
// replaces them one by one, and the Results and Events come back for a
// report. It is what `drain test` and `drain compare` share.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/router"
)

// Networks for [Spec.Network].
const (
	// NetworkModel: replicas listen on the host's loopback and the load
	// client picks a ready endpoint itself for each new connection
	// (rollout.Endpoints, a model of kube-proxy's routing).
	NetworkModel = "model"
	// NetworkKernel: replicas and client run in a network namespace of
	// their own, and the kernel routes each new connection through a
	// kube-proxy-like nftables Service with conntrack, optionally through
	// a latency relay (internal/netpath). Needs root, ip and nft.
	NetworkKernel = "kernel"
)

// Spec is one run.
type Spec struct {
	Plan rollout.Plan
	Load load.Config

	// Network is NetworkModel ("" too) or NetworkKernel.
	Network string
	// Latency is the one-way delay between the client and each replica,
	// added in both directions to data, FIN and RST; Jitter varies it
	// uniformly by up to ±Jitter without reordering. Both need
	// NetworkKernel (a relay in the kernel path provides them); 0 means
	// none, negative is an error.
	Latency, Jitter time.Duration

	// Router, if set, is the name of a real L7 router (router.Names) put
	// between the client and the replicas: the client dials it, and it
	// follows the endpoint changes as its ingress controller does. It
	// needs NetworkModel.
	Router string

	// MaxLatency is the latency objective: an OK answer to a request the
	// client wrote whole (steady, quiet, idle) that came later than this
	// is outcome load.Slow, lost (load.MarkSlow). 0 means none.
	MaxLatency time.Duration

	// Progress, if set, is called about every 200 ms with a one-line status.
	Progress func(line string)
}

// Run is what happened.
type Run struct {
	Start    time.Time
	Duration time.Duration
	Results  []load.Result
	Events   []rollout.Event
	Replicas []rollout.ReplicaReport
	// RollErr is the rollout's error after a successful start (a new
	// replica that never became ready); the results are still valid.
	RollErr error
	// Interrupted says the run's context ended (Ctrl-C) before the run
	// did, at InterruptedAt. Events from then on (the replicas Execute's
	// own cleanup stopped or killed) are not in Events: they are not part
	// of what was measured.
	Interrupted   bool
	InterruptedAt time.Duration
}

// ErrSpec wraps a Spec that cannot run: bad load settings, or a --duration
// too short for the rollout.
var ErrSpec = errors.New("drain: bad run")

// Check reports what Execute would reject in spec before starting
// anything (errors wrap ErrSpec or load.ErrConfig): the load's settings
// for the schedule the run would have, and a fixed Load.Duration that ends
// before the rollout's last restart could have been measured.
func (spec Spec) Check() error {
	cfg := spec.Load
	if cfg.Duration == 0 {
		cfg.Duration = spec.Plan.MaxDuration()
	} else if min := minDuration(spec.Plan); cfg.Duration < min {
		return fmt.Errorf("%w: --duration %v ends before the rollout's last restart could be measured (at least %v: %s); "+
			"give --duration 0 to load until the rollout ends, or at least %v", ErrSpec, cfg.Duration, min, minDurationWhy(spec.Plan), min)
	}
	return cfg.Validate()
}

// minDuration is the earliest a rollout of p can have restarted every
// replica and settled after the last: every replacement ready no sooner
// than its ReadyDelay, SIGTERM after PreStop, then Settle.
func minDuration(p rollout.Plan) time.Duration {
	warmup, settle, n := planDefaults(p)
	per := max(p.ReadyDelay, 0) + max(p.PreStop, 0) + settle
	if p.Strategy == rollout.StrategyDeleteAll {
		return warmup + per
	}
	return warmup + time.Duration(n)*per
}

func minDurationWhy(p rollout.Plan) string {
	warmup, settle, n := planDefaults(p)
	if p.Strategy == rollout.StrategyDeleteAll {
		n = 1
	}
	return fmt.Sprintf("--warmup %v + %d restarts x (--ready-delay %v + --prestop %v + --settle %v)", warmup, n, max(p.ReadyDelay, 0), max(p.PreStop, 0), settle)
}

func planDefaults(p rollout.Plan) (warmup, settle time.Duration, n int) {
	def := func(v, d time.Duration) time.Duration {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	n = p.Replicas
	if n <= 0 {
		n = rollout.DefaultReplicas
	}
	return def(p.Warmup, rollout.DefaultWarmup), def(p.Settle, rollout.DefaultSettle), n
}

// ErrSetup wraps failures to start the initial replicas: bad input, not a
// measurement.
var ErrSetup = errors.New("drain: replicas did not start")

// Execute runs spec: start the replicas, run the load, roll every replica
// while the load runs, stop everything. Every process it starts is reaped
// before it returns, also when ctx is cancelled.
func Execute(ctx context.Context, spec Spec) (_ Run, err error) {
	if len(spec.Plan.Command) == 0 {
		return Run{}, fmt.Errorf("%w: no command given", ErrSetup)
	}
	if _, err := exec.LookPath(spec.Plan.Command[0]); err != nil {
		return Run{}, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	if err := checkNetwork(spec); err != nil {
		return Run{}, err
	}
	// The run sees the caller's interruption (Ctrl-C) only once its moment
	// is recorded, so every event of the cleanup it causes comes after.
	outer := ctx
	ctx, cancelRun := context.WithCancelCause(context.WithoutCancel(outer))
	defer cancelRun(nil)
	interrupted := make(chan time.Time, 1)
	stopWatch := context.AfterFunc(outer, func() {
		interrupted <- time.Now()
		cancelRun(context.Cause(outer))
	})
	defer stopWatch()
	plan := spec.Plan
	cfg := spec.Load
	var target endpoint.Target
	var kp *kernelPath
	if spec.Network == NetworkKernel {
		if kp, err = newKernelPath(spec.Latency, spec.Jitter); err != nil {
			return Run{}, err
		}
		// Deferred before r.Stop, so it runs after: the namespace goes
		// once every replica in it has been reaped.
		defer func() { err = errors.Join(err, kp.close()) }()
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		kp.wire(&plan, &cfg, cancel)
		target = kp.path.Service()
	}

	var rt *router.Router
	if spec.Router != "" {
		if rt, err = newRouter(spec, &plan); err != nil {
			return Run{}, err
		}
		defer func() { err = errors.Join(err, rt.Close()) }()
	}

	t0 := time.Now()
	r := rollout.New(plan, t0)
	defer r.Stop()
	if err := r.Start(ctx); err != nil {
		if kp != nil && kp.failed() != nil {
			return Run{}, fmt.Errorf("%w: %w", ErrSetup, kp.failed())
		}
		return Run{}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if rt != nil {
		if err := rt.Start(ctx); err != nil {
			return Run{}, fmt.Errorf("%w: %w", ErrSetup, err)
		}
		target = rt
	}
	auto := cfg.Duration == 0
	if auto {
		cfg.Duration = plan.MaxDuration()
	}
	if target == nil {
		target = r.Endpoints()
	}
	client, err := load.NewClient(cfg, target)
	if err != nil {
		return Run{}, err
	}
	var hooks rollout.Hooks = client
	if kp != nil {
		hooks = kp.hooks(client)
	}
	if rt != nil {
		hooks = routerHooks{client, rt.Addr()}
	}

	var wg sync.WaitGroup
	var results []load.Result
	var loadErr error
	loadDone := make(chan struct{})
	wg.Go(func() {
		defer close(loadDone)
		results, loadErr = client.Run(ctx)
	})
	if spec.Progress != nil {
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() { defer close(stopped); progress(stop, loadDone, t0, client, r, spec.Progress) }()
		// No status line after Execute returns (the caller writes next).
		defer func() { close(stop); <-stopped }()
	}
	rollErr := r.Roll(ctx, hooks)
	if rollErr != nil && ctx.Err() != nil {
		rollErr = nil // reported as the cancellation below
	}
	if auto {
		// Roll returns once every replaced replica has exited and the
		// settle time after the last restart has passed.
		client.Finish()
	}
	<-loadDone
	r.Stop()
	// Events count from t0, the load's Results from the client's own
	// start, after the replicas became ready: one origin for the report.
	alignResults(results, client, t0)
	load.MarkSlow(results, spec.MaxLatency)
	run := Run{
		Start:    t0,
		Duration: time.Since(t0),
		Results:  results,
		Replicas: r.Replicas(),
		RollErr:  rollErr,
	}
	stopWatch()
	cut := time.Duration(-1)
	select {
	case at := <-interrupted:
		run.Interrupted, run.InterruptedAt = true, max(at.Sub(t0), 0)
		cut = run.InterruptedAt
	default:
	}
	run.Events = measured(r.Events(), r.Replicas(), cut)
	if kp != nil && kp.failed() != nil {
		return run, kp.failed() // the path broke: the cancellation was ours
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return run, loadErr
	}
	return run, ctx.Err()
}

// measured drops the end of the replicas that were still running when the
// load ended: stopping them is cleanup, not part of the rollout measured.
// A replacement's start, readiness and endpoint addition stay: the report
// needs the addition to tell when the Service had a ready endpoint again.
//
// An interrupted run (interrupted >= 0) keeps only the events before the
// interruption: what came after is Execute's cleanup (replicas stopped,
// killed at the stop timeout), not the rollout, and a replica killed by
// it must not read as one the rollout had to kill.
func measured(events []rollout.Event, reps []rollout.ReplicaReport, interrupted time.Duration) []rollout.Event {
	rolled := map[int32]bool{}
	for _, r := range reps {
		rolled[r.Replica] = r.Original
	}
	out := events[:0:0]
	for _, e := range events {
		switch {
		case interrupted >= 0 && e.At >= interrupted:
		case rolled[e.Replica], e.Kind == rollout.Started, e.Kind == rollout.Ready, e.Kind == rollout.EndpointAdded:
			out = append(out, e)
		}
	}
	return out
}

// alignResults makes results, timed from client's Run, count from t0
// instead, the origin of the run's events and report.
func alignResults(results []load.Result, client *load.Client, t0 time.Time) {
	shift := client.Origin().Sub(t0)
	if shift <= 0 {
		return
	}
	for i := range results {
		results[i].Intended += shift
		results[i].Sent += shift
		results[i].Done += shift
	}
}

func progress(stop, loadDone <-chan struct{}, t0 time.Time, c *load.Client, r *rollout.Runner, out func(string)) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-loadDone:
			return
		case <-t.C:
		}
		p := c.Progress()
		terms := 0
		for _, rep := range r.Replicas() {
			if rep.SIGTERM >= 0 && rep.Original {
				terms++
			}
		}
		orig := 0
		for _, rep := range r.Replicas() {
			if rep.Original {
				orig++
			}
		}
		out(fmt.Sprintf("%5.1fs  restart %d/%d  sent %d/%d  ok %d  lost %d",
			time.Since(t0).Seconds(), terms, orig, p.Sent, p.Total, p.OK, p.Lost))
	}
}
