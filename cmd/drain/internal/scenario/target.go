package scenario

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// TargetSpec is a load run against a service someone else runs and rolls
// (say a Kubernetes Service during `kubectl rollout restart`).
type TargetSpec struct {
	// URL is the service: http[s]://host[:port][/path[?query]]. The path
	// and query become Load.Request.Path unless that is set.
	URL string
	// Insecure skips the verification of an https target's certificate;
	// CA, if set, is a PEM file of the certificates to trust instead of
	// the system's. The server name checked is Load.Request.Host's host,
	// else the URL's.
	Insecure bool
	CA       string
	Load     load.Config
	// During, if set, runs with `sh -c` once the load is steady (after
	// Warmup); with Load.Duration 0 the load ends Settle after it exits.
	During string
	// Rollout, if set (instead of During), restarts a Kubernetes workload
	// with kubectl and waits until the rollout is complete and its old
	// pods are gone; with Load.Duration 0 the load ends Settle after.
	Rollout        *KubeRollout
	Warmup, Settle time.Duration
	// ArmAfter sets the hard cases up this long after During starts (0:
	// just before it starts), so they can straddle a SIGTERM that comes
	// later in During, such as a rollout's first one.
	ArmAfter time.Duration
	// ArmOn, if set, sets the hard cases up when a line of During's stdout
	// first contains it and plays them out (their delays count) from the
	// second such line (ArmOn and ArmAfter exclude each other): During
	// says when the SIGTERM is near and when it comes (say when a
	// rollout's first new pod is ready, then when the first old pod is
	// deleted) instead of a guess at how long that takes. Set up just
	// before the SIGTERM, the cases do not sit for seconds on a server
	// that may time out an unfinished request head.
	ArmOn string
	// Output receives During's (or kubectl's) stdout and stderr
	// (discarded if nil).
	Output   io.Writer
	Progress func(line string)
	// MaxLatency is the latency objective, as Spec.MaxLatency.
	MaxLatency time.Duration
}

// TargetRun is what happened; the Results carry Replica 0 (the service).
type TargetRun struct {
	Start    time.Time
	Duration time.Duration
	Results  []load.Result
	// DuringStart and DuringEnd are offsets from Start (-1 without During
	// or Rollout); DuringErr is its failure, if any.
	DuringStart, DuringEnd time.Duration
	DuringErr              error
	// ArmedAt is when the hard cases were played out from (their SIGTERM
	// moment), an offset from Start (-1: never, e.g. During ended before
	// ArmOn's second line came); SetUpAt is when they were set up with
	// ArmOn (-1 without it or before its first line).
	ArmedAt, SetUpAt time.Duration
	// Warnings say why the run may have measured less than it seems: a
	// During that returned before a rollout could have replaced anything,
	// a target on which nothing changed while it ran.
	Warnings []string
}

// MinRollout is the shortest a During is believed to be a whole rollout:
// a Kubernetes rollout of even one pod takes seconds (a new pod's start and
// readiness, the old one's termination), so a command that returns sooner,
// like a bare `kubectl rollout restart`, only started one.
const MinRollout = 2 * time.Second

// warnings looks at a finished run for signs that During did not cover a
// rollout of the target.
func (run *TargetRun) warnings(spec TargetSpec, noReuse bool, conns int) {
	if spec.ArmOn != "" && run.DuringStart >= 0 && run.ArmedAt < 0 {
		seen := "no line of --during's output contained it"
		if run.SetUpAt >= 0 {
			seen = "only one line of --during's output contained it (the cases were set up, not played out)"
		}
		run.Warnings = append(run.Warnings, fmt.Sprintf("--arm-on %q: %s before --during ended, "+
			"so the hard cases (idle, half-sent, slow-body) were not measured: print it once when the SIGTERM is near and once when it comes", spec.ArmOn, seen))
	}
	if run.DuringStart < 0 || run.DuringEnd < 0 || spec.Rollout != nil {
		return
	}
	if took := run.DuringEnd - run.DuringStart; took < MinRollout && run.DuringErr == nil {
		run.Warnings = append(run.Warnings, fmt.Sprintf("--during returned after %.3fs, too soon for a rollout to have replaced anything; "+
			"the load ended --settle (%v) later, so most of the rollout was not measured. Make the command block until the rollout is over "+
			"(kubectl rollout restart deployment/NAME && kubectl rollout status deployment/NAME, then wait for the old pods to be gone) "+
			"or use --rollout deployment/NAME", took.Seconds(), spec.Settle))
	}
	if noReuse {
		return // every request opens a connection: no change to see
	}
	// The hard cases' connections open around During by design (and do
	// one Steady GET first): only the steady pool's tell a change.
	hard := map[uint32]bool{}
	for _, r := range run.Results {
		if r.Kind != load.Steady {
			hard[r.Conn] = true
		}
	}
	// Each of the pool's conns slots opens one connection on its first
	// request; more than that means the service closed some.
	pool := map[uint32]bool{}
	for _, r := range run.Results {
		if hard[r.Conn] {
			continue
		}
		if r.Intended >= run.DuringStart && (r.ConnClose || r.Outcome.Lost()) {
			return
		}
		pool[r.Conn] = true
	}
	if len(pool) > conns {
		return
	}
	run.Warnings = append(run.Warnings, "no connection was closed, opened again or lost after --during started: "+
		"nothing on the target changed while it was measured (did --during roll the replicas behind --target?)")
}

// ErrTarget wraps a bad --target.
var ErrTarget = errors.New("drain: bad target")

// Target is a checked target URL.
type Target struct {
	Addr       string // host:port to dial
	ServerName string // the URL's host name (TLS)
	TLS        bool   // https
	Path       string // path and query, "/" at least
}

// ParseTarget checks an http:// or https:// URL.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("%w %q: %v", ErrTarget, raw, err)
	}
	var t Target
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		t.TLS = true
		if port == "" {
			port = "443"
		}
	default:
		return Target{}, fmt.Errorf("%w %q: use an http:// or https:// URL", ErrTarget, raw)
	}
	if u.Hostname() == "" {
		return Target{}, fmt.Errorf("%w %q: no host", ErrTarget, raw)
	}
	if u.User != nil || u.Fragment != "" {
		return Target{}, fmt.Errorf("%w %q: no user info or #fragment, please (use --header for credentials)", ErrTarget, raw)
	}
	t.Addr = net.JoinHostPort(u.Hostname(), port)
	t.ServerName = u.Hostname()
	t.Path = u.EscapedPath()
	if t.Path == "" {
		t.Path = "/"
	}
	if u.RawQuery != "" {
		t.Path += "?" + u.RawQuery
	}
	return t, nil
}

// TargetAddr checks an http(s) URL and returns its host:port.
func TargetAddr(raw string) (string, error) {
	t, err := ParseTarget(raw)
	return t.Addr, err
}

// tlsConfig is the client TLS configuration for spec's https target.
func (spec TargetSpec) tlsConfig(t Target) (*tls.Config, error) {
	name := t.ServerName
	if h := spec.Load.Request.Host; h != "" {
		name = h
		if host, _, err := net.SplitHostPort(h); err == nil {
			name = host
		}
	}
	cfg := &tls.Config{ServerName: name, InsecureSkipVerify: spec.Insecure}
	if spec.CA != "" {
		pem, err := os.ReadFile(spec.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: --ca: %v", ErrTarget, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --ca %s: no PEM certificate in it", ErrTarget, spec.CA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Check validates spec without touching the network (besides reading
// --ca): what ExecuteTarget would reject before any load.
func (spec TargetSpec) Check() error {
	_, _, err := spec.prepare()
	return err
}

// prepare checks spec and returns the target and the load configuration.
func (spec TargetSpec) prepare() (Target, load.Config, error) {
	t, err := ParseTarget(spec.URL)
	if err != nil {
		return t, load.Config{}, err
	}
	cfg := spec.Load
	if cfg.Request.Path == "" {
		cfg.Request.Path = t.Path
	}
	switch {
	case t.TLS:
		if cfg.Request.TLS, err = spec.tlsConfig(t); err != nil {
			return t, cfg, err
		}
	case spec.Insecure || spec.CA != "":
		return t, cfg, fmt.Errorf("%w %q: --insecure and --ca need an https:// target", ErrTarget, spec.URL)
	}
	if spec.During != "" && spec.Rollout != nil {
		return t, cfg, fmt.Errorf("%w: --during and a Kubernetes --rollout exclude each other", ErrTarget)
	}
	if spec.During != "" && runtime.GOOS == "windows" {
		// Before any load, not when During is due to start.
		return t, cfg, fmt.Errorf("%w: --during: %w", ErrTarget, errNoGroups)
	}
	if spec.ArmOn != "" {
		switch {
		case spec.During == "":
			return t, cfg, fmt.Errorf("%w: --arm-on %q is matched on --during's output: it needs --during CMD", ErrTarget, spec.ArmOn)
		case spec.ArmAfter > 0:
			return t, cfg, fmt.Errorf("%w: --arm-on and --arm-after exclude each other: arm the hard cases on a line of --during's output, or a fixed time after it starts", ErrTarget)
		case strings.ContainsAny(spec.ArmOn, "\r\n"):
			return t, cfg, fmt.Errorf("%w: --arm-on %q: it is matched within one line; give it without line breaks", ErrTarget, spec.ArmOn)
		}
	}
	if cfg.Duration == 0 {
		if spec.During == "" && spec.Rollout == nil {
			return t, cfg, fmt.Errorf("%w: give --duration, or --during CMD (or --rollout KIND/NAME) to run until it ends", ErrTarget)
		}
		cfg.Duration = maxTargetRun
	}
	if spec.Rollout != nil {
		if err := spec.Rollout.check(); err != nil {
			return t, cfg, err
		}
	}
	return t, cfg, cfg.Validate()
}

type fixed struct{ ep endpoint.Endpoint }

func (f fixed) Pick() (endpoint.Endpoint, bool) { return f.ep, true }

// maxTargetRun bounds the schedule when the load runs until During ends.
const maxTargetRun = 10 * time.Minute

// ExecuteTarget runs the load against spec.URL and, once it is steady,
// spec.During. The hard cases are set up on the service just before During
// starts and played out from then (their delays count from that moment), or
// both ArmAfter into it, or on ArmOn's first and second line of its output.
func ExecuteTarget(ctx context.Context, spec TargetSpec) (TargetRun, error) {
	t, cfg, err := spec.prepare()
	if err != nil {
		return TargetRun{}, err
	}
	auto := spec.Load.Duration == 0
	addr := t.Addr
	ep := endpoint.Endpoint{Addr: addr, Replica: 0}
	client, err := load.NewClient(cfg, fixed{ep})
	if err != nil {
		return TargetRun{}, err
	}
	// Nothing runs against a target that does not answer as expected: a
	// dead or misrouted URL would otherwise "lose" every request, or pass
	// with 404s, and --during would roll a service for nothing.
	if err := client.Probe(ctx, ep); err != nil {
		return TargetRun{}, err
	}
	var kube *kubeRun
	if spec.Rollout != nil {
		if kube, err = spec.Rollout.prepare(ctx, spec.Output); err != nil {
			return TargetRun{}, err
		}
	}
	t0 := time.Now()
	run := TargetRun{Start: t0, DuringStart: -1, DuringEnd: -1, ArmedAt: -1, SetUpAt: -1}
	loadDone := make(chan struct{})
	var loadErr error
	go func() {
		defer close(loadDone)
		run.Results, loadErr = client.Run(ctx)
	}()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if spec.Progress == nil {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				p := client.Progress()
				phase := "load"
				if spec.During != "" {
					phase = "during: " + spec.During
				} else if spec.Rollout != nil {
					phase = "rollout: " + spec.Rollout.Ref
				}
				spec.Progress(fmt.Sprintf("%5.1fs  %s  sent %d  ok %d  lost %d", time.Since(t0).Seconds(), phase, p.Sent, p.OK, p.Lost))
			}
		}
	}()
	if spec.During != "" || kube != nil {
		if sleep(ctx, spec.Warmup) {
			// The hard cases' connections are set up (the half-sent heads
			// and slow bodies begun) just before During starts, ArmAfter
			// into it, or at ArmOn's first line; they are played out (their
			// delays count) from then, or from ArmOn's second line: the
			// moment of the SIGTERM they should cross.
			if spec.ArmAfter <= 0 && spec.ArmOn == "" {
				client.BeforeStop(0, addr)
			}
			play := func() {
				client.AfterStop(0, time.Now())
				run.ArmedAt = time.Since(t0)
			}
			run.DuringStart = time.Since(t0)
			waited, setup, fire, err := spec.startDuring(ctx, kube)
			switch {
			case err != nil:
				run.DuringErr = err
			case spec.ArmAfter <= 0 && spec.ArmOn == "":
				play()
				run.DuringErr = <-waited
			case spec.ArmAfter > 0:
				t := time.NewTimer(spec.ArmAfter)
				select {
				case <-t.C:
					client.BeforeStop(0, addr)
					play()
					run.DuringErr = <-waited
				case run.DuringErr = <-waited:
					t.Stop()
				}
			default:
				select {
				case <-setup:
					client.BeforeStop(0, addr)
					run.SetUpAt = time.Since(t0)
					select {
					case <-fire:
						play()
						run.DuringErr = <-waited
					case run.DuringErr = <-waited:
					}
				case run.DuringErr = <-waited:
				}
			}
			run.DuringEnd = time.Since(t0)
			if auto && sleep(ctx, spec.Settle) {
				client.Finish()
			}
		}
	}
	<-loadDone
	alignResults(run.Results, client, t0)
	load.MarkSlow(run.Results, spec.MaxLatency)
	close(stopProgress)
	<-progressDone
	run.Duration = time.Since(t0)
	if ctx.Err() == nil {
		run.warnings(spec, cfg.NoReuse, client.Config().Conns)
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return run, loadErr
	}
	return run, ctx.Err()
}

// startDuring starts During (or the Kubernetes rollout) and returns the
// channel its end is sent on and, with ArmOn, two closed when a line of its
// stdout contains ArmOn for the first and for the second time (nil without
// ArmOn: never ready).
func (spec TargetSpec) startDuring(ctx context.Context, kube *kubeRun) (waited <-chan error, first, second <-chan struct{}, err error) {
	end := make(chan error, 1)
	if kube != nil {
		go func() { end <- kube.run(ctx) }()
		return end, nil, nil, nil
	}
	// Through child, as every process drain starts: a process group of
	// its own that ctx's end kills (with whatever During started), and
	// Pdeathsig. Its output is copied until it ends, at most
	// child.OutputWait after During exits: a process During left running
	// with the pipe open (say a watcher) cannot hold the run's end back.
	cfg := child.Config{Args: []string{"sh", "-c", spec.During}}
	var arm *armWriter
	if spec.ArmOn == "" {
		cfg.Stdout, cfg.Stderr = spec.Output, spec.Output
	} else {
		out := child.SerialWriter(spec.Output)
		arm = &armWriter{out: out, on: spec.ArmOn, lines: [2]chan struct{}{make(chan struct{}), make(chan struct{})}}
		cfg.Stdout, cfg.Stderr = arm, out
	}
	p, err := child.StartContext(ctx, cfg)
	if errors.Is(err, child.ErrNoSignals) {
		err = errNoGroups
	}
	if err != nil {
		return nil, nil, nil, err
	}
	go func() {
		err := p.Wait() // and the output copied
		if arm != nil {
			arm.flush()
		}
		end <- err
	}()
	if arm == nil {
		return end, nil, nil, nil
	}
	return end, arm.lines[0], arm.lines[1], nil
}

// errNoGroups: During runs in a process group drain can kill.
var errNoGroups = errors.New("it runs with sh -c in a process group of its own that drain kills when the run ends, and Windows has none; run drain test on Linux or macOS (or in WSL2)")

// armWriter passes During's stdout on to out line by line and closes
// lines[0] and lines[1] at the first and second line containing on.
// Writes come from one goroutine (child's copy), then flush.
type armWriter struct {
	out   io.Writer
	on    string
	lines [2]chan struct{}
	n     int    // lines closed
	part  []byte // the unfinished line
}

func (a *armWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			a.part = append(a.part, p...)
			break
		}
		a.line(append(a.part, p[:i+1]...))
		a.part = nil
		p = p[i+1:]
	}
	return n, nil
}

// flush passes on the last line if it has no newline.
func (a *armWriter) flush() {
	if len(a.part) > 0 {
		a.line(a.part)
		a.part = nil
	}
}

func (a *armWriter) line(l []byte) {
	a.out.Write(l)
	if a.n < len(a.lines) && bytes.Contains(l, []byte(a.on)) {
		close(a.lines[a.n])
		a.n++
	}
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
