package testrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/progress"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

// Config is one drain test: the shared Options and what only drain test
// has. Either Command (drain test starts the replicas) or Target (it loads
// a running service) is set.
type Config struct {
	Options
	Command []string // the replicas' COMMAND [ARGS...]

	Target    string        // --target URL
	During    string        // --during shell command
	Namespace string        // --namespace, with a Kubernetes --rollout KIND/NAME
	ArmAfter  time.Duration // --arm-after
	ArmOn     string        // --arm-on (given empty: Flags has "arm-on")
	IdleAfter time.Duration // --idle-after
	Header    []string      // --header, repeated
	Host      string        // --host
	Methods   string        // --method, comma-separated
	Insecure  bool          // --insecure
	CA        string        // --ca

	JSON      bool   // --json
	HTML      string // --html file
	Results   string // --results file
	Log       string // --log file
	AllowLost int    // --allow-lost

	Version string            // drain's version, for the report
	Flags   map[string]string // the flags given (name -> value), for the report
	Stdout  io.Writer         // the report
	Stderr  io.Writer         // progress, warnings, --during's output
	Usage   func()            // prints drain test's help (when no COMMAND is given)
}

// Test checks cfg (a UsageError before anything starts), runs it, writes
// the reports and returns the verdict: nil, LostError, InterruptedError, or
// what went wrong.
func Test(ctx context.Context, cfg Config) error {
	// A Kubernetes workload (KIND/NAME) instead of a simulated strategy.
	var kube *scenario.KubeRollout
	opts := cfg.Options
	if strings.Contains(opts.Strategy, "/") {
		if cfg.Target == "" {
			return Usagef("--rollout %s restarts a Kubernetes workload: it needs --target, the URL that workload serves", opts.Strategy)
		}
		kube = &scenario.KubeRollout{Ref: opts.Strategy, Namespace: cfg.Namespace}
		opts.Strategy = rollout.StrategyRolling
	} else if cfg.Namespace != "" {
		return Usagef("--namespace %s: only with --target and --rollout KIND/NAME", cfg.Namespace)
	}
	expect, err := opts.check()
	if err != nil {
		return err
	}
	switch {
	case cfg.ArmAfter < 0:
		return Usagef("--arm-after %v: need a duration >= 0", cfg.ArmAfter)
	case cfg.ArmOn == "" && given(cfg.Flags, "arm-on"):
		return Usagef("--arm-on '': give the string a line of --during's output will contain when the SIGTERM is near and when it comes")
	case cfg.IdleAfter <= 0:
		return Usagef("--idle-after %v: need a positive duration", cfg.IdleAfter)
	case cfg.AllowLost < 0:
		return Usagef("--allow-lost %d: need a number of requests >= 0", cfg.AllowLost)
	}
	if err := checkOutputs(map[string]string{"html": cfg.HTML, "results": cfg.Results, "log": cfg.Log}); err != nil {
		return err
	}
	line, endProgress := progress.New(cfg.Stderr, "drain test: ")
	defer endProgress()
	req := load.Request{Host: cfg.Host, Header: cfg.Header, Expect: expect}
	if cfg.Methods != "" {
		req.Methods = strings.Split(cfg.Methods, ",")
	}
	out := output{stdout: cfg.Stdout, json: cfg.JSON, html: cfg.HTML, results: cfg.Results, allowLost: cfg.AllowLost}
	m := meta{version: cfg.Version, flags: cfg.Flags}
	if cfg.Target != "" {
		if len(cfg.Command) > 0 {
			return Usagef("--target and a COMMAND exclude each other: either drain test starts the replicas, or it loads a running service")
		}
		if opts.Network != "" && opts.Network != scenario.NetworkModel {
			return Usagef("--network=%s needs replicas started by drain test, not --target", opts.Network)
		}
		if opts.Router != "" {
			return Usagef("--router needs replicas started by drain test, not --target (the router follows their endpoints)")
		}
		lc := opts.spec(nil, expect).Load
		lc.IdleAfter = cfg.IdleAfter
		lc.Request = req
		spec := scenario.TargetSpec{
			URL: cfg.Target, Insecure: cfg.Insecure, CA: cfg.CA, Load: lc, During: cfg.During, Rollout: kube,
			Warmup: opts.Warmup, Settle: opts.Settle, ArmAfter: cfg.ArmAfter, ArmOn: cfg.ArmOn, Progress: line, MaxLatency: opts.MaxLatency,
		}
		if err := spec.Check(); err != nil {
			return plainUsage(err)
		}
		return runTarget(ctx, spec, cfg.Stderr, out, m, cfg.Log)
	}
	switch {
	case cfg.During != "":
		return Usagef("--during needs --target: with a COMMAND, drain test performs the rollout itself")
	case cfg.Insecure || cfg.CA != "":
		return Usagef("--insecure and --ca need an https --target: the replicas drain test starts speak clear text")
	}
	if len(cfg.Command) == 0 {
		if cfg.Usage != nil {
			cfg.Usage()
		}
		return Usagef("no COMMAND given: drain test [flags] -- COMMAND [ARGS...], or --target URL")
	}
	spec := opts.spec(cfg.Command, expect)
	spec.Load.IdleAfter = cfg.IdleAfter
	spec.Load.Request = req
	if err := spec.Check(); err != nil {
		return plainUsage(err)
	}
	logw, closeLog, err := openLog(cfg.Log)
	if err != nil {
		return err
	}
	defer closeLog()
	spec.Plan.Stdout, spec.Plan.Stderr = logw, logw
	spec.Progress = line
	return runReplicas(ctx, spec, cfg.Stderr, out, m, strings.Join(cfg.Command, " "))
}

// runReplicas runs drain test with replicas it starts and writes its
// report.
func runReplicas(ctx context.Context, spec scenario.Spec, stderr io.Writer, out output, m meta, name string) error {
	start := time.Now()
	run, err := scenario.Execute(ctx, spec)
	if ctx.Err() != nil && run.Results == nil {
		return InterruptedError{time.Since(start)} // before the load began: no report
	}
	if errors.Is(err, scenario.ErrSetup) {
		return UsageError{err}
	}
	if err != nil && run.Results == nil {
		return err
	}
	sum := m.summarize(run)
	if err := out.report(sum, run, name, err); err != nil {
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

// runTarget runs drain test --target and writes its report.
func runTarget(ctx context.Context, spec scenario.TargetSpec, stderr io.Writer, out output, m meta, logPath string) error {
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
		fmt.Fprintf(stderr, "drain: %s ran from %.3fs to %.3fs (%v)\n", during(spec, "--during"), run.DuringStart.Seconds(), run.DuringEnd.Seconds(), exitStatus(run.DuringErr))
		if spec.ArmOn != "" && run.ArmedAt >= 0 {
			fmt.Fprintf(stderr, "drain: hard cases set up at %.3fs, played out from %.3fs (--arm-on %q)\n", run.SetUpAt.Seconds(), run.ArmedAt.Seconds(), spec.ArmOn)
		}
	}
	for _, w := range run.Warnings {
		fmt.Fprintln(stderr, "drain: warning:", w)
	}
	srun := scenario.Run{Start: run.Start, Duration: run.Duration, Results: run.Results}
	if ctx.Err() != nil {
		srun.Interrupted, srun.InterruptedAt = true, run.Duration
	}
	sum := m.summarize(srun)
	if run.DuringStart >= 0 {
		sum.SetSteady(run.DuringStart, run.Results) // before --during: the steady state
	}
	if err := out.report(sum, srun, spec.URL, err); err != nil {
		return err
	}
	if run.DuringErr != nil {
		return fmt.Errorf("%s: %w", during(spec, fmt.Sprintf("--during %q", spec.During)), run.DuringErr)
	}
	return out.check(sum)
}

// during names what ran during the load: "--rollout KIND/NAME" for a
// Kubernetes rollout, else the --during command as flag names it.
func during(spec scenario.TargetSpec, flag string) string {
	if spec.Rollout != nil {
		return "--rollout " + spec.Rollout.Ref
	}
	return flag
}

// given reports whether the flag name was given on the command line.
func given(flags map[string]string, name string) bool {
	_, ok := flags[name]
	return ok
}
