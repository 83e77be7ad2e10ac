package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/router"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

const testUsage = `
usage: drain test [flags] -- COMMAND [ARGS...]

Starts --replicas replicas of COMMAND (each gets its port in $PORT and in
every "{port}" of ARGS), waits until each is ready, puts open-loop load on
them and replaces them one by one the way a Deployment with maxSurge 1 and
maxUnavailable 0 does: start a new replica, wait until ready, then remove the
old one from the endpoint list and send it SIGTERM at the same moment (after
--prestop); SIGKILL after --grace. Endpoint changes reach the client like
kube-proxy's rules: --propagation after they happen, at syncs at least
--sync-period apart (so a new replica is routable only at the sync that
removes the old one); the client picks an endpoint at random for each new
connection. --teardown after a replica exits, its address stops answering
(a deleted pod's network is gone): connections to it time out instead of
being refused. Every request is recorded and classified; the client never
retries.

--rollout=delete-all instead deletes every replica at the same moment and
starts all replacements at once (a ReplicaSet whose pods were all deleted:
kubectl delete pod -l ...); --ready-delay holds each replacement's first
readiness probe back (initialDelaySeconds). While no endpoint is ready the
client picks among the deleted replicas whose readiness probe still passes
(kube-proxy's fallback to serving terminating endpoints; their probe runs
on until they exit); with none, the connection is refused. Exit status: 0 when at most --allow-lost requests were lost, 1 when
more were, 2 on bad usage or when the replicas could not start.

Replicas run with KUBERNETES_SERVICE_HOST set (as in a pod) unless
--pod-env=false, so libraries pick their in-cluster defaults.

--network=model (the default) runs the replicas on this host's loopback and
lets the client pick a ready endpoint for each new connection, a model of
kube-proxy. --network=kernel runs replicas and client in a network namespace
of their own and lets the kernel route each new connection through a
kube-proxy-like nftables Service (conntrack keeps established connections
where they are); --latency adds a one-way delay (relayed data, FIN and RST
alike) between client and replicas, --jitter varies it. It needs root, ip
(iproute2) and nft (nftables); the namespace is deleted at the end, also on
Ctrl-C. See docs/netpath.md.

Flags:
`

// testFlags are the flags drain test and drain compare share.
type testFlags struct {
	replicas    int
	strategy    string
	readyDelay  time.Duration
	readyPath   string
	tcpReady    bool
	prestop     time.Duration
	propagation time.Duration
	syncPeriod  time.Duration
	teardown    time.Duration
	grace       time.Duration
	warmup      time.Duration
	settle      time.Duration
	podEnv      bool
	network     string
	latency     time.Duration
	jitter      time.Duration
	router      string

	rate      float64
	duration  time.Duration
	conns     int
	noReuse   bool
	postRatio float64
	idle      int
	halfSent  int
	slowBody  int
	client    string
	timeout   time.Duration
}

func (f *testFlags) register(fs interface {
	IntVar(*int, string, int, string)
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Float64Var(*float64, string, float64, string)
}) {
	fs.IntVar(&f.replicas, "replicas", rollout.DefaultReplicas, "replicas to run and replace")
	fs.StringVar(&f.strategy, "rollout", rollout.StrategyRolling, "rolling (one replica at a time, maxSurge 1, maxUnavailable 0) or delete-all (every replica deleted at once, the replacements started together)")
	fs.DurationVar(&f.readyDelay, "ready-delay", 0, "a replacement's first readiness probe comes no sooner than this after its start (initialDelaySeconds)")
	fs.StringVar(&f.readyPath, "ready-path", rollout.DefaultReadyPath, "readiness probe path (HTTP GET, ready on 200)")
	fs.BoolVar(&f.tcpReady, "tcp-ready", false, "readiness is a successful TCP dial instead of --ready-path")
	fs.DurationVar(&f.prestop, "prestop", 0, "preStop sleep between endpoint removal and SIGTERM")
	fs.DurationVar(&f.propagation, "propagation", rollout.DefaultPropagation, "how long an endpoint change takes to reach kube-proxy's rules, sync aside (0: at once)")
	fs.DurationVar(&f.syncPeriod, "sync-period", rollout.DefaultSyncPeriod, "apply endpoint changes in syncs at least this far apart, like kube-proxy's minSyncPeriod (0: each on its own)")
	fs.DurationVar(&f.teardown, "teardown", rollout.DefaultTeardown, "an exited replica's address drops new connections (they time out) this long after its exit (0: never, they are refused)")
	fs.DurationVar(&f.grace, "grace", rollout.DefaultGrace, "SIGKILL this long after SIGTERM (terminationGracePeriodSeconds)")
	fs.DurationVar(&f.warmup, "warmup", rollout.DefaultWarmup, "load before the first restart")
	fs.DurationVar(&f.settle, "settle", rollout.DefaultSettle, "load after each restart before the next")
	fs.BoolVar(&f.podEnv, "pod-env", true, "set KUBERNETES_SERVICE_HOST for the replicas, as in a pod")
	fs.StringVar(&f.network, "network", scenario.NetworkModel, "model (the client picks an endpoint) or kernel (a namespace, an nftables Service and conntrack; needs root)")
	fs.DurationVar(&f.latency, "latency", 0, "one-way delay between client and replicas (needs --network=kernel)")
	fs.DurationVar(&f.jitter, "jitter", 0, "vary --latency uniformly by up to this much, without reordering (needs --network=kernel)")
	fs.StringVar(&f.router, "router", "", "put a real L7 router between the client and the replicas: nginx, haproxy or caddy, as its ingress controller runs it, following the endpoints with its lag (docs/routers.md; install with routers/NAME/install)")
	fs.Float64Var(&f.rate, "rate", 500, "requests per second (open loop)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to send (0: until every replaced replica has exited, plus --settle)")
	fs.IntVar(&f.conns, "conns", 32, "persistent connections carrying the steady load")
	fs.BoolVar(&f.noReuse, "no-reuse", false, "a new connection for every request")
	fs.Float64Var(&f.postRatio, "post-ratio", 0.5, "share of requests sent as POST with a body")
	fs.IntVar(&f.idle, "idle", load.DefaultIdle, "per restart: connections idle at SIGTERM that send once more later (-1: none)")
	fs.IntVar(&f.halfSent, "half-sent", load.DefaultHalfSent, "per restart: connections half-way through request headers at SIGTERM (-1: none)")
	fs.IntVar(&f.slowBody, "slow-body", load.DefaultSlowBody, "per restart: POSTs whose body trickles in across SIGTERM (-1: none)")
	fs.StringVar(&f.client, "client", load.ClientRaw, "raw (never retries) or go (net/http's Transport, which retries idempotent requests silently)")
	fs.DurationVar(&f.timeout, "timeout", load.DefaultRequestTimeout, "per-request timeout, from its intended send time")
}

func (f *testFlags) validate() error {
	switch {
	case f.replicas < 1:
		return usagef("--replicas %d: need at least 1", f.replicas)
	case f.strategy != rollout.StrategyRolling && f.strategy != rollout.StrategyDeleteAll:
		return usagef("--rollout %q: use %s or %s", f.strategy, rollout.StrategyRolling, rollout.StrategyDeleteAll)
	case f.readyDelay < 0:
		return usagef("--ready-delay %v: need a duration >= 0", f.readyDelay)
	case f.strategy == rollout.StrategyDeleteAll && f.network == scenario.NetworkKernel:
		return usagef("--rollout=%s needs --network=%s: the kernel path's Service does not model the fallback to serving terminating endpoints", rollout.StrategyDeleteAll, scenario.NetworkModel)
	case !(f.rate > 0):
		return usagef("--rate %v: need a positive number of requests per second", f.rate)
	case f.duration < 0:
		return usagef("--duration %v: need a positive duration, or 0 for automatic", f.duration)
	case f.postRatio < 0 || f.postRatio > 1:
		return usagef("--post-ratio %v: need a number between 0 and 1", f.postRatio)
	case f.client != load.ClientRaw && f.client != load.ClientGo:
		return usagef("--client %q: use raw or go", f.client)
	case f.conns < 1:
		return usagef("--conns %d: need at least 1", f.conns)
	case f.network != scenario.NetworkModel && f.network != scenario.NetworkKernel:
		return usagef("--network %q: use %s or %s", f.network, scenario.NetworkModel, scenario.NetworkKernel)
	case f.latency < 0 || f.jitter < 0:
		return usagef("--latency %v --jitter %v: need durations >= 0", f.latency, f.jitter)
	case (f.latency > 0 || f.jitter > 0) && f.network != scenario.NetworkKernel:
		return usagef("--latency and --jitter need --network=kernel (the delay comes from a relay in the kernel path)")
	case f.router != "" && !slices.Contains(router.Names(), f.router):
		return usagef("--router %q: use one of %s", f.router, strings.Join(router.Names(), ", "))
	case f.router != "" && f.network == scenario.NetworkKernel:
		return usagef("--router needs --network=%s: the router runs on this host's loopback", scenario.NetworkModel)
	}
	return nil
}

func (f *testFlags) spec(command []string, stderr io.Writer) scenario.Spec {
	plan := rollout.Plan{
		Command:     command,
		Replicas:    f.replicas,
		Strategy:    f.strategy,
		ReadyDelay:  f.readyDelay,
		ReadyPath:   f.readyPath,
		TCPReady:    f.tcpReady,
		PreStop:     f.prestop,
		Propagation: f.propagation,
		SyncPeriod:  f.syncPeriod,
		Teardown:    f.teardown,
		Grace:       f.grace,
		Warmup:      f.warmup,
		Settle:      f.settle,
	}
	if f.prestop == 0 {
		plan.PreStop = -1
	}
	if f.propagation == 0 {
		plan.Propagation = -1
	}
	if f.syncPeriod == 0 {
		plan.SyncPeriod = -1
	}
	if f.teardown == 0 {
		plan.Teardown = -1
	}
	if f.podEnv {
		plan.Env = []string{"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=443"}
	}
	return scenario.Spec{
		Network: f.network,
		Latency: f.latency,
		Jitter:  f.jitter,
		Router:  f.router,
		Plan:    plan,
		Load: load.Config{
			Rate:           f.rate,
			Duration:       f.duration,
			Conns:          f.conns,
			NoReuse:        f.noReuse,
			PostRatio:      f.postRatio,
			RequestTimeout: f.timeout,
			Client:         f.client,
			Idle:           f.idle,
			HalfSent:       f.halfSent,
			SlowBody:       f.slowBody,
		},
	}
}

func runTest(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("test", testUsage, stderr)
	var f testFlags
	f.register(fs)
	jsonOut := fs.Bool("json", false, "print the report as JSON (schema: docs/report-schema.md)")
	htmlOut := fs.String("html", "", "also write an HTML report with a timeline chart to this file")
	resultsOut := fs.String("results", "", "also write every request's Result as JSON lines to this file")
	allowLost := fs.Int("allow-lost", 0, "exit 1 when more requests than this were lost")
	logOut := fs.String("log", "", "write the replicas' stdout and stderr (with --during: CMD's) to this file (default: discarded)")
	target := fs.String("target", "", "load only: send to this running service (http://host:port/) instead of starting replicas")
	during := fs.String("during", "", "with --target: run this shell command once the load is steady (e.g. 'kubectl rollout restart deployment/api'); the load ends --settle after it exits")
	armAfter := fs.Duration("arm-after", 0, "with --during: set the hard cases up this long after CMD starts (0: just before), e.g. when a rollout's first SIGTERM comes")
	idleAfter := fs.Duration("idle-after", load.DefaultIdleAfter, "idle connections send their request this long after SIGTERM (with --during: after CMD starts)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if *armAfter < 0 {
		return usagef("--arm-after %v: need a duration >= 0", *armAfter)
	}
	if *idleAfter <= 0 {
		return usagef("--idle-after %v: need a positive duration", *idleAfter)
	}
	command := fs.Args()
	var logw io.Writer
	if *logOut != "" {
		lf, err := os.Create(*logOut)
		if err != nil {
			return usagef("--log: %v", err)
		}
		defer lf.Close()
		logw = lf
	}
	var progress func(string)
	if isTerminal(stderr) {
		progress = func(line string) { fmt.Fprintf(stderr, "\r\033[K%s", line) }
		defer fmt.Fprint(stderr, "\r\033[K")
	}
	out := testOutput{fs: fs, stdout: stdout, json: *jsonOut, html: *htmlOut, results: *resultsOut, allowLost: *allowLost}

	if *target != "" {
		if len(command) > 0 {
			return usagef("--target and a COMMAND exclude each other: either drain test starts the replicas, or it loads a running service")
		}
		if f.network != "" && f.network != scenario.NetworkModel {
			return usagef("--network=%s needs replicas started by drain test, not --target", f.network)
		}
		if f.router != "" {
			return usagef("--router needs replicas started by drain test, not --target (the router follows their endpoints)")
		}
		cfg := f.spec(nil, stderr).Load
		cfg.IdleAfter = *idleAfter
		run, err := scenario.ExecuteTarget(ctx, scenario.TargetSpec{
			URL: *target, Load: cfg, During: *during, Warmup: f.warmup, Settle: f.settle, ArmAfter: *armAfter,
			Output: logw, Progress: progress,
		})
		if errors.Is(err, scenario.ErrTarget) || errors.Is(err, load.ErrConfig) {
			return usageError{err}
		}
		if err != nil && run.Results == nil {
			return err
		}
		if run.DuringStart >= 0 {
			fmt.Fprintf(stderr, "drain: --during ran from %.3fs to %.3fs (%v)\n", run.DuringStart.Seconds(), run.DuringEnd.Seconds(), exitStatus(run.DuringErr))
		}
		sum := summarize("drain test", fs, scenario.Run{Start: run.Start, Duration: run.Duration, Results: run.Results})
		if werr := out.write(sum, run.Results, *target); werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		if run.DuringErr != nil {
			return fmt.Errorf("--during %q: %w", *during, run.DuringErr)
		}
		return out.check(sum)
	}
	if *during != "" {
		return usagef("--during needs --target: with a COMMAND, drain test performs the rollout itself")
	}
	if len(command) == 0 {
		fs.Usage()
		return usagef("no COMMAND given: drain test [flags] -- COMMAND [ARGS...], or --target URL")
	}
	spec := f.spec(command, stderr)
	spec.Load.IdleAfter = *idleAfter
	spec.Plan.Stdout, spec.Plan.Stderr = logw, logw
	spec.Progress = progress
	run, err := scenario.Execute(ctx, spec)
	if errors.Is(err, scenario.ErrSetup) {
		return usageError{err}
	}
	if err != nil && run.Results == nil {
		return err
	}
	sum := summarize("drain test", fs, run)
	if werr := out.write(sum, run.Results, strings.Join(command, " ")); werr != nil {
		return werr
	}
	if err != nil {
		return err // cancelled: the partial report is out, the status says so
	}
	if run.RollErr != nil {
		fmt.Fprintln(stderr, "drain: rollout:", run.RollErr)
	}
	if err := out.check(sum); err != nil {
		return err
	}
	return run.RollErr
}

// testOutput writes drain test's reports.
type testOutput struct {
	fs            interface{ Visit(func(*flagT)) }
	stdout        io.Writer
	json          bool
	html, results string
	allowLost     int
}

func (o testOutput) write(sum report.Summary, results []load.Result, name string) error {
	if err := writeReport(o.stdout, sum, o.json); err != nil {
		return err
	}
	if o.html != "" {
		if err := writeFile(o.html, func(w io.Writer) error {
			return report.WriteHTML(w, "drain test: "+name, []report.Section{{Name: name, Summary: sum}})
		}); err != nil {
			return err
		}
	}
	if o.results != "" {
		return writeFile(o.results, func(w io.Writer) error { return load.WriteJSONL(w, results) })
	}
	return nil
}

// check turns too many lost requests into exit status 1.
func (o testOutput) check(sum report.Summary) error {
	if sum.Lost > o.allowLost {
		return lostError{sum.Lost, o.allowLost}
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func summarize(command string, fs interface{ Visit(func(*flagT)) }, run scenario.Run) report.Summary {
	flags := map[string]string{}
	fs.Visit(func(f *flagT) { flags[f.Name] = f.Value.String() })
	meta := report.Meta{Command: command, Flags: flags, Start: run.Start, Duration: run.Duration, Version: version}
	return report.Summarize(meta, run.Results, run.Events, nil)
}

func writeReport(w io.Writer, s report.Summary, asJSON bool) error {
	if asJSON {
		return report.WriteJSON(w, s)
	}
	return report.WriteTable(w, s)
}

// writeFile creates path and writes it with fn, returning the first error.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
