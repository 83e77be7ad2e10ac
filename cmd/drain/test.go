package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
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
on until they exit); with none, the connection is refused.

Exit status: 0 when at most --allow-lost requests were lost, 1 when more
were, 2 on bad usage or when the replicas could not start (every flag and
output path is checked first), 130 when Ctrl-C stopped the run (the report
is partial and says "interrupted"). A request is ok only with a status in
--expect (default 2xx) and, if the client wrote it whole (steady, quiet,
idle), answered within --max-latency (default 2s): a later answer is lost
as "slow", a stall users see.

--target URL loads a service you run (http:// or https:// and the URL's
path; --host, --header, --method, --insecure, --ca). One request must
succeed first, or nothing runs (exit 2, with the reason). --rollout
KIND/NAME [-n NS] then restarts that Kubernetes workload with kubectl and
waits for the rollout and for its old pods to be gone; --during CMD runs
any command, which must block until the rollout is over. See
docs/ci-gate.md.

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

// DefaultSteady is drain test's steady phase before the first SIGTERM
// (--warmup): long enough for every quiet connection (gaps up to 5.5 s,
// started within 320 ms) to send again after a 5 s keep-alive timeout.
const DefaultSteady = 7 * time.Second

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
	expect    string
	expectSet load.StatusSet

	quiet        int
	quietAfter   time.Duration
	quietLatency time.Duration
	protocol     string
	maxLatency   time.Duration
}

func (f *testFlags) register(fs interface {
	IntVar(*int, string, int, string)
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Float64Var(*float64, string, float64, string)
}) {
	fs.IntVar(&f.replicas, "replicas", rollout.DefaultReplicas, "replicas to run and replace")
	fs.StringVar(&f.strategy, "rollout", rollout.StrategyRolling, "rolling (one replica at a time, maxSurge 1, maxUnavailable 0) or delete-all (every replica deleted at once, the replacements started together); with --target, KIND/NAME: a Kubernetes workload to restart with kubectl")
	fs.DurationVar(&f.readyDelay, "ready-delay", 0, "a replacement's first readiness probe comes no sooner than this after its start (initialDelaySeconds)")
	fs.StringVar(&f.readyPath, "ready-path", rollout.DefaultReadyPath, "readiness probe path (HTTP GET, ready on 200)")
	fs.BoolVar(&f.tcpReady, "tcp-ready", false, "readiness is a successful TCP dial instead of --ready-path")
	fs.DurationVar(&f.prestop, "prestop", 0, "preStop sleep between endpoint removal and SIGTERM")
	fs.DurationVar(&f.propagation, "propagation", rollout.DefaultPropagation, "how long an endpoint change takes to reach kube-proxy's rules, sync aside (0: at once)")
	fs.DurationVar(&f.syncPeriod, "sync-period", rollout.DefaultSyncPeriod, "apply endpoint changes in syncs at least this far apart, like kube-proxy's minSyncPeriod (0: each on its own)")
	fs.DurationVar(&f.teardown, "teardown", rollout.DefaultTeardown, "an exited replica's address drops new connections (they time out) this long after its exit (0: never, they are refused)")
	fs.DurationVar(&f.grace, "grace", rollout.DefaultGrace, "SIGKILL this long after SIGTERM (terminationGracePeriodSeconds)")
	fs.DurationVar(&f.warmup, "warmup", DefaultSteady, "the steady phase: load before the first restart, long enough for the quiet connections to cross a 5 s keep-alive timeout; its losses are the report's \"steady\" line")
	fs.DurationVar(&f.settle, "settle", rollout.DefaultSettle, "load after each restart before the next")
	fs.BoolVar(&f.podEnv, "pod-env", true, "set KUBERNETES_SERVICE_HOST for the replicas, as in a pod")
	fs.StringVar(&f.network, "network", scenario.NetworkModel, "model (the client picks an endpoint) or kernel (a namespace, an nftables Service and conntrack; needs root)")
	fs.DurationVar(&f.latency, "latency", 0, "one-way delay between client and replicas (needs --network=kernel)")
	fs.DurationVar(&f.jitter, "jitter", 0, "vary --latency uniformly by up to this much, without reordering (needs --network=kernel)")
	fs.StringVar(&f.router, "router", "", "put a real L7 router between the client and the replicas: nginx, haproxy or caddy, as its ingress controller runs it, following the endpoints with its lag (docs/routers.md; install with routers/NAME/install)")
	fs.Float64Var(&f.rate, "rate", 500, "requests per second (open loop)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to send (0: until every replaced replica has exited, plus --settle)")
	fs.IntVar(&f.conns, "conns", load.DefaultConns, "persistent connections carrying the steady load")
	fs.BoolVar(&f.noReuse, "no-reuse", false, "a new connection for every request")
	fs.Float64Var(&f.postRatio, "post-ratio", 0.5, "share of requests sent as POST with a body")
	fs.IntVar(&f.idle, "idle", load.DefaultIdle, "per restart: connections idle at SIGTERM that send once more later (-1: none)")
	fs.IntVar(&f.halfSent, "half-sent", load.DefaultHalfSent, "per restart: connections half-way through request headers at SIGTERM (-1: none)")
	fs.IntVar(&f.slowBody, "slow-body", load.DefaultSlowBody, "per restart: POSTs whose body trickles in across SIGTERM (-1: none)")
	fs.StringVar(&f.client, "client", load.ClientRaw, "raw (never retries) or go (net/http's Transport, which retries idempotent requests silently)")
	fs.DurationVar(&f.timeout, "timeout", load.DefaultRequestTimeout, "per-request timeout, from its intended send time")
	fs.StringVar(&f.protocol, "protocol", load.ProtocolH1, "the steady load's protocol: h1 (HTTP/1.1), h2c (HTTP/2 in clear text, prior knowledge) or h2 (HTTP/2 over TLS: an https --target); HTTP/2 requests are streams over 4 connections, never retried (goaway and refused_stream are their own outcomes); the quiet connections speak it too; the hard cases stay HTTP/1.1 (half-sent headers and a trickled body are HTTP/1.1 framing)")
	fs.IntVar(&f.quiet, "quiet", load.DefaultQuiet, "quiet connections for the whole run: each sends, stays quiet for about --quiet-after, and sends again, as a low-traffic client's pool does (-1: none)")
	fs.DurationVar(&f.quietAfter, "quiet-after", load.DefaultQuietAfter, "the quiet connections' gaps, spread over this ±500ms: the keep-alive timeout in play (the server's, a router's)")
	fs.DurationVar(&f.quietLatency, "quiet-latency", load.DefaultQuietLatency, "one-way latency modelled for the quiet connections: the server's FIN and a request sent at that moment cross (0: none, e.g. when --latency gives the path its own)")
	fs.DurationVar(&f.maxLatency, "max-latency", load.DefaultMaxLatency, "latency objective: a steady, quiet or idle request answered later than this is lost, outcome \"slow\" (a stall users see, such as a router waiting out its connect timeout); half-sent and slow bodies are exempt (0: none)")
	fs.StringVar(&f.expect, "expect", "2xx", "statuses that count as ok: statuses, ranges and classes, comma-separated (e.g. 2xx,301); any other response is lost, by class")
}

func (f *testFlags) validate() error {
	set, err := load.ParseStatusSet(f.expect)
	if err != nil {
		return usagef("--expect %q: %v", f.expect, errors.Unwrap(err))
	}
	f.expectSet = set
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
	case f.protocol != load.ProtocolH1 && f.protocol != load.ProtocolH2C && f.protocol != load.ProtocolH2:
		return usagef("--protocol %q: use h1, h2c or h2", f.protocol)
	case f.protocol != load.ProtocolH1 && f.client == load.ClientGo:
		return usagef("--protocol %s: HTTP/2 is the raw client's; --client=go speaks HTTP/1.1 here", f.protocol)
	case f.quiet < -1 || f.quietAfter <= 0 || f.quietLatency < 0:
		return usagef("--quiet %d --quiet-after %v: need a count >= -1 and a positive gap", f.quiet, f.quietAfter)
	case f.postRatio < 0 || f.postRatio > 1:
		return usagef("--post-ratio %v: need a number between 0 and 1", f.postRatio)
	case f.maxLatency < 0:
		return usagef("--max-latency %v: need a duration >= 0 (0: no latency objective)", f.maxLatency)
	case f.timeout < 0:
		return usagef("--timeout %v: need a duration > 0 (0: the default, %v)", f.timeout, load.DefaultRequestTimeout)
	case f.rate > load.MaxRate:
		return usagef("--rate %v: at most %d requests per second, more than one load client sends on time", f.rate, load.MaxRate)
	case f.warmup < 0 || f.settle < 0 || f.grace < 0 || f.prestop < 0 || f.propagation < 0 || f.syncPeriod < 0 || f.teardown < 0:
		return usagef("--warmup, --settle, --grace, --prestop, --propagation, --sync-period and --teardown need durations >= 0")
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

func (f *testFlags) spec(command []string) scenario.Spec {
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
		Network:    f.network,
		Latency:    f.latency,
		Jitter:     f.jitter,
		Router:     f.router,
		MaxLatency: f.maxLatency,
		Plan:       plan,
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
			Request:        load.Request{Expect: f.expectSet},
			Protocol:       f.protocol,
			Quiet:          max(f.quiet, 0),
			QuietAfter:     f.quietAfter,
			QuietLatency:   cmp.Or(f.quietLatency, -1), // 0 is none here, the default in load
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
	logOut := fs.String("log", "", "write the replicas' stdout and stderr (with --during or a Kubernetes --rollout: its output) to this file (default: discarded for replicas, stderr for --during)")
	target := fs.String("target", "", "load only: send to this running service (http[s]://host[:port][/path]) instead of starting replicas; one request must succeed first (else exit 2)")
	during := fs.String("during", "", "with --target: run this shell command once the load is steady; the load ends --settle after it exits, so it must block until the rollout is over, e.g. 'kubectl rollout restart deployment/api && kubectl rollout status deployment/api' (or use --rollout deployment/api)")
	armAfter := fs.Duration("arm-after", 0, "with --during: set the hard cases up this long after CMD starts (0: just before), e.g. when a rollout's first SIGTERM comes")
	armOn := fs.String("arm-on", "", "with --during: play the hard cases out (set up before CMD starts) from the moment a line of CMD's stdout first contains this string: CMD says when the SIGTERM comes (e.g. it prints the string when the first old pod turns Terminating)")
	idleAfter := fs.Duration("idle-after", load.DefaultIdleAfter, "idle connections send their request this long after SIGTERM (with --during: after CMD starts)")
	var headers stringList
	fs.Var(&headers, "header", "extra request header `Name:value` (repeatable), e.g. 'Authorization: Bearer ...'")
	host := fs.String("host", "", "Host header (and TLS server name) of every request, e.g. an Ingress's host rule (default: the address dialed)")
	methods := fs.String("method", "", "comma-separated methods sent in turn, e.g. GET or GET,POST,DELETE; POST, PUT and PATCH carry a small body (default: GET and POST per --post-ratio)")
	insecure := fs.Bool("insecure", false, "with an https --target: do not verify its certificate")
	caFile := fs.String("ca", "", "with an https --target: trust the PEM certificates in this file instead of the system's")
	var namespace string
	fs.StringVar(&namespace, "namespace", "", "with --target and --rollout KIND/NAME: the workload's namespace (kubectl -n)")
	fs.StringVar(&namespace, "n", "", "shorthand for --namespace")
	if err := parse(fs, args); err != nil {
		return err
	}
	// A Kubernetes workload (KIND/NAME) instead of a simulated strategy.
	var kube *scenario.KubeRollout
	if strings.Contains(f.strategy, "/") {
		if *target == "" {
			return usagef("--rollout %s restarts a Kubernetes workload: it needs --target, the URL that workload serves", f.strategy)
		}
		kube = &scenario.KubeRollout{Ref: f.strategy, Namespace: namespace}
		f.strategy = rollout.StrategyRolling
	} else if namespace != "" {
		return usagef("--namespace %s: only with --target and --rollout KIND/NAME", namespace)
	}
	if err := f.validate(); err != nil {
		return err
	}
	switch {
	case *armAfter < 0:
		return usagef("--arm-after %v: need a duration >= 0", *armAfter)
	case *armOn == "" && flagSet(fs, "arm-on"):
		return usagef("--arm-on '': give the string a line of --during's output will contain when the hard cases should be played out")
	case *idleAfter <= 0:
		return usagef("--idle-after %v: need a positive duration", *idleAfter)
	case *allowLost < 0:
		return usagef("--allow-lost %d: need a number of requests >= 0", *allowLost)
	}
	if err := checkOutputs(map[string]string{"html": *htmlOut, "results": *resultsOut, "log": *logOut}); err != nil {
		return err
	}
	command := fs.Args()
	progress, endProgress := newProgress(stderr, "drain test: ")
	defer endProgress()
	req := load.Request{Host: *host, Header: headers, Expect: f.expectSet}
	if *methods != "" {
		req.Methods = strings.Split(*methods, ",")
	}
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
		cfg := f.spec(nil).Load
		cfg.IdleAfter = *idleAfter
		cfg.Request = req
		spec := scenario.TargetSpec{
			URL: *target, Insecure: *insecure, CA: *caFile, Load: cfg, During: *during, Rollout: kube,
			Warmup: f.warmup, Settle: f.settle, ArmAfter: *armAfter, ArmOn: *armOn, Progress: progress, MaxLatency: f.maxLatency,
		}
		if err := spec.Check(); err != nil {
			return plainUsage(err)
		}
		return runTarget(ctx, spec, fs, stderr, testOutput{stdout: stdout, json: *jsonOut, html: *htmlOut, results: *resultsOut, allowLost: *allowLost}, *logOut)
	}
	switch {
	case *during != "":
		return usagef("--during needs --target: with a COMMAND, drain test performs the rollout itself")
	case *insecure || *caFile != "":
		return usagef("--insecure and --ca need an https --target: the replicas drain test starts speak clear text")
	}
	if len(command) == 0 {
		fs.Usage()
		return usagef("no COMMAND given: drain test [flags] -- COMMAND [ARGS...], or --target URL")
	}
	spec := f.spec(command)
	spec.Load.IdleAfter = *idleAfter
	spec.Load.Request = req
	if err := spec.Check(); err != nil {
		return plainUsage(err)
	}
	logw, closeLog, err := openLog(*logOut)
	if err != nil {
		return err
	}
	defer closeLog()
	spec.Plan.Stdout, spec.Plan.Stderr = logw, logw
	spec.Progress = progress
	out := testOutput{stdout: stdout, json: *jsonOut, html: *htmlOut, results: *resultsOut, allowLost: *allowLost}
	start := time.Now()
	run, err := scenario.Execute(ctx, spec)
	if ctx.Err() != nil && run.Results == nil {
		return interruptedError{time.Since(start)} // before the load began: no report
	}
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
	if run.Interrupted {
		return interruptedError{run.InterruptedAt}
	}
	if err != nil {
		return err
	}
	if run.RollErr != nil {
		fmt.Fprintln(stderr, "drain: rollout:", run.RollErr)
	}
	if err := out.check(sum); err != nil {
		return err
	}
	return run.RollErr
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runTarget runs drain test --target and writes its report.
func runTarget(ctx context.Context, spec scenario.TargetSpec, fs *flag.FlagSet, stderr io.Writer, out testOutput, logPath string) error {
	spec.Output = stderr // --during's output is part of the story, not noise
	logw, closeLog, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer closeLog()
	if logw != nil {
		spec.Output = logw
	}
	run, err := scenario.ExecuteTarget(ctx, spec)
	if errors.Is(err, scenario.ErrTarget) || errors.Is(err, load.ErrConfig) || errors.Is(err, scenario.ErrKube) {
		return plainUsage(err)
	}
	if errors.Is(err, load.ErrProbe) {
		return plainUsage(fmt.Errorf("%w; nothing was loaded and no rollout ran (check the URL, --host, --header, --expect)", err))
	}
	if err != nil && run.Results == nil {
		return err
	}
	if run.DuringStart >= 0 {
		what := "--during"
		if spec.Rollout != nil {
			what = "--rollout " + spec.Rollout.Ref
		}
		fmt.Fprintf(stderr, "drain: %s ran from %.3fs to %.3fs (%v)\n", what, run.DuringStart.Seconds(), run.DuringEnd.Seconds(), exitStatus(run.DuringErr))
		if spec.ArmOn != "" && run.ArmedAt >= 0 {
			fmt.Fprintf(stderr, "drain: hard cases played out from %.3fs (--arm-on %q)\n", run.ArmedAt.Seconds(), spec.ArmOn)
		}
	}
	for _, w := range run.Warnings {
		fmt.Fprintln(stderr, "drain: warning:", w)
	}
	srun := scenario.Run{Start: run.Start, Duration: run.Duration, Results: run.Results}
	if ctx.Err() != nil {
		srun.Interrupted, srun.InterruptedAt = true, run.Duration
	}
	sum := summarize("drain test", fs, srun)
	if run.DuringStart >= 0 {
		sum.SetSteady(run.DuringStart, run.Results) // before --during: the steady state
	}
	if werr := out.write(sum, run.Results, spec.URL); werr != nil {
		return werr
	}
	if srun.Interrupted {
		return interruptedError{srun.InterruptedAt}
	}
	if err != nil {
		return err
	}
	if run.DuringErr != nil {
		what := fmt.Sprintf("--during %q", spec.During)
		if spec.Rollout != nil {
			what = "--rollout " + spec.Rollout.Ref
		}
		return fmt.Errorf("%s: %w", what, run.DuringErr)
	}
	return out.check(sum)
}

// ExitInterrupted is drain test's exit status when Ctrl-C (SIGINT) or
// SIGTERM ended the run: the report printed is partial. 130 is the shell's
// status for a command ended by SIGINT.
const ExitInterrupted = 130

// interruptedError ends an interrupted run with ExitInterrupted.
type interruptedError struct{ at time.Duration }

func (e interruptedError) Error() string {
	return fmt.Sprintf("interrupted at %.3fs: the report above is partial (what happened before), replicas stopped by drain itself are not counted", e.at.Seconds())
}

func (interruptedError) ExitCode() int { return ExitInterrupted }

// Unwrap says why the run ended: its context was cancelled.
func (interruptedError) Unwrap() error { return context.Canceled }

// plainUsage is a usage error whose message drops the sentinel's "drain: "
// prefix (exitCode adds its own).
func plainUsage(err error) error {
	return usageError{errors.New(strings.TrimPrefix(err.Error(), "drain: "))}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// checkOutputs checks each output file flag before anything starts: a path
// that looks like a flag (--html --) or cannot be created is a usage
// error, not something found after the run.
func checkOutputs(paths map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(paths)) {
		path := paths[name]
		if path == "" {
			continue
		}
		if strings.HasPrefix(path, "-") {
			return usagef("--%s %q: looks like a flag, not a file name (write ./%s for a file of that name)", name, path, path)
		}
		_, statErr := os.Stat(path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return usagef("--%s: %v", name, err)
		}
		f.Close()
		if errors.Is(statErr, fs.ErrNotExist) {
			os.Remove(path) // created only to check: the run writes it
		}
	}
	return nil
}

// openLog creates the --log file, or returns a nil writer without one.
func openLog(path string) (io.Writer, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	lf, err := os.Create(path)
	if err != nil {
		return nil, nil, usagef("--log: %v", err)
	}
	return lf, func() { lf.Close() }, nil
}

// testOutput writes drain test's reports.
type testOutput struct {
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
		return lostError{lost: sum.Lost, allowed: o.allowLost}
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func summarize(command string, fs *flag.FlagSet, run scenario.Run) report.Summary {
	flags := map[string]string{}
	fs.Visit(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	meta := report.Meta{Command: command, Flags: flags, Start: run.Start, Duration: run.Duration, Version: version, Interrupted: run.Interrupted}
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
