package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// TargetSpec is a load run against a service someone else runs and rolls
// (say a Kubernetes Service during `kubectl rollout restart`).
type TargetSpec struct {
	// URL is the service: http://host[:port]/ (the path is ignored: the
	// load sends GET / and POST /).
	URL  string
	Load load.Config
	// During, if set, runs with `sh -c` once the load is steady (after
	// Warmup); with Load.Duration 0 the load ends Settle after it exits.
	During         string
	Warmup, Settle time.Duration
	// ArmAfter sets the hard cases up this long after During starts (0:
	// just before it starts), so they can straddle a SIGTERM that comes
	// later in During, such as a rollout's first one.
	ArmAfter time.Duration
	// Output receives During's stdout and stderr (discarded if nil).
	Output   io.Writer
	Progress func(line string)
}

// TargetRun is what happened; the Results carry Replica 0 (the service).
type TargetRun struct {
	Start    time.Time
	Duration time.Duration
	Results  []load.Result
	// DuringStart and DuringEnd are offsets from Start (-1 without During);
	// DuringErr is During's failure, if any.
	DuringStart, DuringEnd time.Duration
	DuringErr              error
}

// ErrTarget wraps a bad --target.
var ErrTarget = errors.New("drain: bad target")

// TargetAddr checks an http:// URL and returns its host:port.
func TargetAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrTarget, raw, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%w %q: only http:// is supported (the raw client speaks HTTP/1.1 in clear text)", ErrTarget, raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%w %q: no host", ErrTarget, raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(host, port), nil
}

type fixed struct{ ep endpoint.Endpoint }

func (f fixed) Pick() (endpoint.Endpoint, bool) { return f.ep, true }

// maxTargetRun bounds the schedule when the load runs until During ends.
const maxTargetRun = 10 * time.Minute

// ExecuteTarget runs the load against spec.URL and, once it is steady,
// spec.During. The hard cases are set up on the service just before During
// starts and played out after it started (their delays count from then).
func ExecuteTarget(ctx context.Context, spec TargetSpec) (TargetRun, error) {
	addr, err := TargetAddr(spec.URL)
	if err != nil {
		return TargetRun{}, err
	}
	cfg := spec.Load
	auto := cfg.Duration == 0
	if auto {
		if spec.During == "" {
			return TargetRun{}, fmt.Errorf("%w: give --duration, or --during CMD to run until CMD ends", ErrTarget)
		}
		cfg.Duration = maxTargetRun
	}
	ep := endpoint.Endpoint{Addr: addr, Replica: 0}
	client, err := load.NewClient(cfg, fixed{ep})
	if err != nil {
		return TargetRun{}, err
	}
	t0 := time.Now()
	run := TargetRun{Start: t0, DuringStart: -1, DuringEnd: -1}
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
				}
				spec.Progress(fmt.Sprintf("%5.1fs  %s  sent %d  ok %d  lost %d", time.Since(t0).Seconds(), phase, p.Sent, p.OK, p.Lost))
			}
		}
	}()
	if spec.During != "" {
		if sleep(ctx, spec.Warmup) {
			if spec.ArmAfter <= 0 {
				client.BeforeStop(0, addr)
			}
			run.DuringStart = time.Since(t0)
			cmd := exec.CommandContext(ctx, "sh", "-c", spec.During)
			cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
			cmd.SysProcAttr = duringSysProcAttr()
			cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
			if err := cmd.Start(); err != nil {
				run.DuringErr = err
			} else {
				waited := make(chan error, 1)
				go func() { waited <- cmd.Wait() }()
				if spec.ArmAfter <= 0 {
					client.AfterStop(0, time.Now())
					run.DuringErr = <-waited
				} else {
					// The hard cases go on the wire ArmAfter into During,
					// e.g. when a rollout's first SIGTERM comes.
					t := time.NewTimer(spec.ArmAfter)
					select {
					case <-t.C:
						client.BeforeStop(0, addr)
						client.AfterStop(0, time.Now())
						run.DuringErr = <-waited
					case run.DuringErr = <-waited:
						t.Stop()
					}
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
	close(stopProgress)
	<-progressDone
	run.Duration = time.Since(t0)
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return run, loadErr
	}
	return run, ctx.Err()
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
