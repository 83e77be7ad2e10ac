package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
	"github.com/drainhttp/drain/cmd/drain/internal/testrun"
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

// registerOptions binds the flags drain test and drain compare share to f,
// with their defaults.
func registerOptions(fs *flag.FlagSet, f *testrun.Options) {
	fs.IntVar(&f.Replicas, "replicas", rollout.DefaultReplicas, "replicas to run and replace")
	fs.StringVar(&f.Strategy, "rollout", rollout.StrategyRolling, "rolling (one replica at a time, maxSurge 1, maxUnavailable 0) or delete-all (every replica deleted at once, the replacements started together); with --target, KIND/NAME: a Kubernetes workload to restart with kubectl")
	fs.DurationVar(&f.ReadyDelay, "ready-delay", 0, "a replacement's first readiness probe comes no sooner than this after its start (initialDelaySeconds)")
	fs.StringVar(&f.ReadyPath, "ready-path", rollout.DefaultReadyPath, "readiness probe path (HTTP GET, ready on 200)")
	fs.BoolVar(&f.TCPReady, "tcp-ready", false, "readiness is a successful TCP dial instead of --ready-path")
	fs.DurationVar(&f.PreStop, "prestop", 0, "preStop sleep between endpoint removal and SIGTERM")
	fs.DurationVar(&f.Propagation, "propagation", rollout.DefaultPropagation, "how long an endpoint change takes to reach kube-proxy's rules, sync aside (0: at once)")
	fs.DurationVar(&f.SyncPeriod, "sync-period", rollout.DefaultSyncPeriod, "apply endpoint changes in syncs at least this far apart, like kube-proxy's minSyncPeriod (0: each on its own)")
	fs.DurationVar(&f.Teardown, "teardown", rollout.DefaultTeardown, "an exited replica's address drops new connections (they time out) this long after its exit (0: never, they are refused)")
	fs.DurationVar(&f.Grace, "grace", rollout.DefaultGrace, "SIGKILL this long after SIGTERM (terminationGracePeriodSeconds)")
	fs.DurationVar(&f.Warmup, "warmup", testrun.DefaultSteady, "the steady phase: load before the first restart, long enough for the quiet connections to cross a 5 s keep-alive timeout; its losses are the report's \"steady\" line")
	fs.DurationVar(&f.Settle, "settle", rollout.DefaultSettle, "load after each restart before the next")
	fs.BoolVar(&f.PodEnv, "pod-env", true, "set KUBERNETES_SERVICE_HOST for the replicas, as in a pod")
	fs.StringVar(&f.Network, "network", scenario.NetworkModel, "model (the client picks an endpoint) or kernel (a namespace, an nftables Service and conntrack; needs root)")
	fs.DurationVar(&f.Latency, "latency", 0, "one-way delay between client and replicas (needs --network=kernel)")
	fs.DurationVar(&f.Jitter, "jitter", 0, "vary --latency uniformly by up to this much, without reordering (needs --network=kernel)")
	fs.StringVar(&f.Router, "router", "", "put a real L7 router between the client and the replicas: nginx, haproxy or caddy, as its ingress controller runs it, following the endpoints with its lag (docs/routers.md; install with routers/NAME/install)")
	fs.Float64Var(&f.Rate, "rate", 500, "requests per second (open loop)")
	fs.DurationVar(&f.Duration, "duration", 0, "how long to send (0: until every replaced replica has exited, plus --settle)")
	fs.IntVar(&f.Conns, "conns", load.DefaultConns, "persistent connections carrying the steady load")
	fs.BoolVar(&f.NoReuse, "no-reuse", false, "a new connection for every request")
	fs.Float64Var(&f.PostRatio, "post-ratio", 0.5, "share of requests sent as POST with a body")
	fs.IntVar(&f.Idle, "idle", load.DefaultIdle, "per restart: connections idle at SIGTERM that send once more later (-1: none)")
	fs.IntVar(&f.HalfSent, "half-sent", load.DefaultHalfSent, "per restart: connections half-way through request headers at SIGTERM (-1: none)")
	fs.IntVar(&f.SlowBody, "slow-body", load.DefaultSlowBody, "per restart: POSTs whose body trickles in across SIGTERM (-1: none)")
	fs.StringVar(&f.Client, "client", load.ClientRaw, "raw (never retries) or go (net/http's Transport, which retries idempotent requests silently)")
	fs.DurationVar(&f.Timeout, "timeout", load.DefaultRequestTimeout, "per-request timeout, from its intended send time")
	fs.StringVar(&f.Protocol, "protocol", load.ProtocolH1, "the steady load's protocol: h1 (HTTP/1.1), h2c (HTTP/2 in clear text, prior knowledge) or h2 (HTTP/2 over TLS: an https --target); HTTP/2 requests are streams over 4 connections, never retried (goaway and refused_stream are their own outcomes); the quiet connections speak it too; the hard cases stay HTTP/1.1 (half-sent headers and a trickled body are HTTP/1.1 framing)")
	fs.IntVar(&f.Quiet, "quiet", load.DefaultQuiet, "quiet connections for the whole run: each sends, stays quiet for about --quiet-after, and sends again, as a low-traffic client's pool does (-1: none)")
	fs.DurationVar(&f.QuietAfter, "quiet-after", load.DefaultQuietAfter, "the quiet connections' gaps, spread over this ±500ms: the keep-alive timeout in play (the server's, a router's)")
	fs.DurationVar(&f.QuietLatency, "quiet-latency", load.DefaultQuietLatency, "one-way latency modelled for the quiet connections: the server's FIN and a request sent at that moment cross (0: none, e.g. when --latency gives the path its own)")
	fs.DurationVar(&f.MaxLatency, "max-latency", load.DefaultMaxLatency, "latency objective: a steady, quiet or idle request answered later than this after it was sent is lost, outcome \"slow\" (a stall users see, such as a router waiting out its connect timeout); half-sent and slow bodies are exempt (0: none)")
	fs.StringVar(&f.Expect, "expect", "2xx", "statuses that count as ok: statuses, ranges and classes, comma-separated (e.g. 2xx,301); any other response is lost, by class")
}

func runTest(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("test", testUsage, stderr)
	cfg := testrun.Config{Stdout: stdout, Stderr: stderr, Usage: fs.Usage, Version: version}
	registerOptions(fs, &cfg.Options)
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON (schema: docs/report-schema.md)")
	fs.StringVar(&cfg.HTML, "html", "", "also write an HTML report with a timeline chart to this file")
	fs.StringVar(&cfg.Results, "results", "", "also write every request's Result as JSON lines to this file")
	fs.IntVar(&cfg.AllowLost, "allow-lost", 0, "exit 1 when more requests than this were lost")
	fs.StringVar(&cfg.Log, "log", "", "write the replicas' stdout and stderr (with --during or a Kubernetes --rollout: its output) to this file (default: discarded for replicas, stderr for --during)")
	fs.StringVar(&cfg.Target, "target", "", "load only: send to this running service (http[s]://host[:port][/path]) instead of starting replicas; one request must succeed first (else exit 2)")
	fs.StringVar(&cfg.During, "during", "", "with --target: run this shell command once the load is steady; the load ends --settle after it exits, so it must block until the rollout is over, e.g. 'kubectl rollout restart deployment/api && kubectl rollout status deployment/api' (or use --rollout deployment/api)")
	fs.DurationVar(&cfg.ArmAfter, "arm-after", 0, "with --during: set the hard cases up this long after CMD starts (0: just before), e.g. when a rollout's first SIGTERM comes")
	fs.StringVar(&cfg.ArmOn, "arm-on", "", "with --during: set the hard cases up when a line of CMD's stdout first contains this string, and play them out from the second such line: CMD prints it when the SIGTERM is near and when it comes (e.g. when a rollout's first new pod starts running, then when the first old pod is deleted)")
	fs.DurationVar(&cfg.IdleAfter, "idle-after", load.DefaultIdleAfter, "idle connections send their request this long after SIGTERM (with --during: after CMD starts)")
	fs.Var((*stringList)(&cfg.Header), "header", "extra request header `Name:value` (repeatable), e.g. 'Authorization: Bearer ...'")
	fs.StringVar(&cfg.Host, "host", "", "Host header (and TLS server name) of every request, e.g. an Ingress's host rule (default: the address dialed)")
	fs.StringVar(&cfg.Methods, "method", "", "comma-separated methods sent in turn, e.g. GET or GET,POST,DELETE; POST, PUT and PATCH carry a small body (default: GET and POST per --post-ratio)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "with an https --target: do not verify its certificate")
	fs.StringVar(&cfg.CA, "ca", "", "with an https --target: trust the PEM certificates in this file instead of the system's")
	fs.StringVar(&cfg.Namespace, "namespace", "", "with --target and --rollout KIND/NAME: the workload's namespace (kubectl -n)")
	fs.StringVar(&cfg.Namespace, "n", "", "shorthand for --namespace")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Command, cfg.Flags = fs.Args(), givenFlags(fs)
	return testrun.Test(ctx, cfg)
}

// givenFlags are the flags given on the command line (name -> value), for
// the report.
func givenFlags(fs *flag.FlagSet) map[string]string {
	flags := map[string]string{}
	fs.Visit(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	return flags
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
