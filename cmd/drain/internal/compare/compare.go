// Package compare repeats one drain test scenario against several servers
// (and, in a latency sweep, several one-way latencies) and collects one
// report row per run: the loop behind drain compare. It also finds, installs
// and checks the peers (other frameworks' servers under peers/).
//
// The command line builds each row's scenario.Spec and summary; compare
// runs them in order and knows nothing of flags or terminals.
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

// ErrPeers marks a --peers selection that names no peer of the folder, or
// a folder that cannot be read: bad input.
var ErrPeers = errors.New("compare: peers")

// Server is one server to measure: a row of the table (one per latency in
// a sweep).
type Server struct {
	Name, Strategy string
	Command        []string
	Peer           string // the folder under the peers directory; "" for drain hello
}

// Config is one comparison.
type Config struct {
	Servers []Server
	// Latencies are the one-way latencies each server runs with, in order:
	// one run each. With Sweep, rows are labelled "strategy @5ms" and
	// Result.Sweep has a point per run.
	Latencies []time.Duration
	Sweep     bool
	// PeersDir holds the peers; with Install each peer's install script
	// runs before its first row, its output to Log.
	PeersDir string
	Install  bool
	Log      io.Writer
	// Spec returns the scenario of one run; Summarize the summary of its
	// result (the command line adds its flags to the summary's Meta).
	Spec      func(s Server, latency time.Duration) scenario.Spec
	Summarize func(run scenario.Run, latency time.Duration) report.Summary
	// Begin, if set, is called before each run (i counts from 0 to total-1)
	// and returns the run's Progress callback (may be nil) and a function
	// called after it.
	Begin func(i, total int, s Server, strategy string) (progress func(string), end func())
}

// Result is the comparison's rows, in the order run, and in a sweep the
// points of the lost-requests chart.
type Result struct {
	Rows  []report.Row
	Sweep []report.SweepPoint
}

// Run runs every server once per latency, in order. A peer that is not
// installed (or whose install fails) gets a NotInstalled row; a run that
// fails before any result a FailedRow. It stops when ctx is done and
// returns ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	lats := cfg.Latencies
	if len(lats) == 0 {
		lats = []time.Duration{0}
	}
	total := len(cfg.Servers) * len(lats)
	i := 0
	for _, s := range cfg.Servers {
		if s.Peer != "" {
			if note, ok := PreparePeer(ctx, cfg.PeersDir, s.Peer, cfg.Install, cfg.Log); !ok {
				res.Rows = append(res.Rows, report.Row{Server: s.Name, Strategy: s.Strategy, Verdict: report.NotInstalled, Note: note})
				i += len(lats)
				continue
			}
		}
		for _, lat := range lats {
			strategy := s.Strategy
			if cfg.Sweep {
				strategy += " " + report.LatencyLabel(lat)
			}
			spec := cfg.Spec(s, lat)
			end := func() {}
			if cfg.Begin != nil {
				var progress func(string)
				progress, end = cfg.Begin(i, total, s, strategy)
				spec.Progress = progress
			}
			i++
			run, err := scenario.Execute(ctx, spec)
			end()
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			var row report.Row
			if err != nil && run.Results == nil {
				row = report.FailedRow(s.Name, strategy, err)
			} else {
				row = report.NewRow(s.Name, strategy, cfg.Summarize(run, lat))
			}
			res.Rows = append(res.Rows, row)
			if cfg.Sweep {
				res.Sweep = append(res.Sweep, report.SweepPoint{Series: series(row, s.Strategy), Latency: lat, Lost: row.Lost, OK: row.Verdict.Measured()})
			}
		}
	}
	return res, nil
}

// series names a row's bars in the sweep chart.
func series(r report.Row, strategy string) string {
	if r.Server == "drain hello" {
		return strategy
	}
	return r.Server + " " + strategy
}

// SelectPeers resolves a peer list ("all", or comma-separated folder names)
// against the folders of dir that have a run script.
func SelectPeers(dir, list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (run from the repository root or give --peers-dir)", ErrPeers, err)
	}
	var all []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "run")); err == nil {
				all = append(all, e.Name())
			}
		}
	}
	if list == "all" {
		return all, nil
	}
	var out []string
	for _, p := range SplitList(list) {
		if _, err := os.Stat(filepath.Join(dir, p, "run")); err != nil {
			return nil, fmt.Errorf("%w: no peer %q in %s (have: %s)", ErrPeers, p, dir, strings.Join(all, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// PeerStrategy reads the first line of dir/p/strategy, if any.
func PeerStrategy(dir, p string) string {
	b, err := os.ReadFile(filepath.Join(dir, p, "strategy"))
	if err != nil {
		return "framework default"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// PreparePeer installs (if asked, its output to log) and checks a peer; it
// returns a note and false when the peer cannot run.
func PreparePeer(ctx context.Context, dir, p string, install bool, log io.Writer) (string, bool) {
	if install {
		cmd := osexec.CommandContext(ctx, filepath.Join(dir, p, "install"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Sprintf("install failed: %v (see peers/%s/install)", err, p), false
		}
	}
	check := filepath.Join(dir, p, "check")
	if _, err := os.Stat(check); err != nil {
		return "", true
	}
	out, err := osexec.CommandContext(ctx, check).CombinedOutput()
	if err != nil {
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			return fmt.Sprintf("not installed: run peers/%s/install (%s)", p, strings.TrimSpace(string(out))), false
		}
		return fmt.Sprintf("check failed: %v", err), false
	}
	return "", true
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
