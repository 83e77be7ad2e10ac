package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/hello"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

const compareUsage = `
usage: drain compare [flags]

Runs drain test (same rollout, same load, same hard cases) against each
server in turn and prints one table: lost requests by outcome, hard cases
survived, median drain time, replicas killed and a verdict.

By default it compares drain hello's four shutdown strategies (drain,
immediate, stdlib, none), which needs nothing but this binary. --peers adds
other frameworks from the peers/ folder (all, or a comma-separated list);
a peer that is not installed is reported as such unless --install is given.

The drain test flags apply to every row, --network=kernel and --latency
included. --latency-sweep 0,1ms,5ms,20ms (needs --network=kernel) runs every
server once per one-way latency and labels its rows "strategy @5ms";
--sweep-chart FILE also draws the lost requests per latency as an SVG.

Flags:
`

// selfExe finds the binary that runs drain hello (tests point it at a built
// drain, since they run inside the test binary).
var selfExe = os.Executable

// server is one row to measure.
type server struct {
	name, strategy string
	command        []string
	peer           string // peers/<peer>, "" for drain hello
}

// notMeasured are the background's frameworks whose runtimes are not in the
// registries this project reaches; their rows keep the article's claims.
var notMeasured = []report.Row{
	{Server: "Spring Boot/Undertow", Strategy: "503 on late requests", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the background reports 503s and connections kept open"},
	{Server: "Quarkus", Strategy: "503 then close", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the background reports 503 to late requests, then close"},
}

func runCompare(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("compare", compareUsage, stderr)
	var f testFlags
	f.register(fs)
	jsonOut := fs.Bool("json", false, "print the comparison as JSON")
	htmlOut := fs.String("html", "", "also write an HTML page (table and one timeline per server) to this file")
	peersFlag := fs.String("peers", "", "also compare these peers: all, or a comma-separated list of folder names under --peers-dir")
	peersDir := fs.String("peers-dir", "peers", "the folder holding the peers")
	install := fs.Bool("install", false, "run each selected peer's install script first")
	withExec := fs.Bool("with-exec", false, "also run each selected peer behind drain exec (rows \"PEER + drain exec\")")
	modes := fs.String("modes", "drain,immediate,stdlib,none", "drain hello strategies to compare (empty: none)")
	delay := fs.Float64("delay", 0.05, "seconds each request takes (HELLO_REST_REQUEST_DELAY for every server)")
	sweepFlag := fs.String("latency-sweep", "", "run every server once per one-way latency of this list (e.g. 0,1ms,5ms,20ms; needs --network=kernel)")
	chartOut := fs.String("sweep-chart", "", "with --latency-sweep: also write an SVG chart of lost requests per latency to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	lats := []time.Duration{f.latency}
	sweep := *sweepFlag != ""
	switch {
	case sweep && f.network != scenario.NetworkKernel:
		return usagef("--latency-sweep needs --network=kernel (the delay comes from a relay in the kernel path)")
	case sweep && f.latency != 0:
		return usagef("give --latency or --latency-sweep, not both")
	case *chartOut != "" && !sweep:
		return usagef("--sweep-chart needs --latency-sweep")
	case sweep:
		var err error
		if lats, err = parseSweep(*sweepFlag); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return usagef("compare takes no arguments, got %q", fs.Args())
	}
	self, err := selfExe()
	if err != nil {
		return fmt.Errorf("compare: finding this binary to run drain hello: %w", err)
	}
	var servers []server
	for _, m := range splitList(*modes) {
		mode, err := hello.ParseMode(m)
		if err != nil {
			return usageError{err}
		}
		servers = append(servers, server{name: "drain hello", strategy: string(mode), command: []string{self, "hello", "--shutdown", string(mode)}})
	}
	peers, err := selectPeers(*peersDir, *peersFlag)
	if err != nil {
		return err
	}
	for _, p := range peers {
		run := filepath.Join(*peersDir, p, "run")
		servers = append(servers, server{name: p, strategy: peerStrategy(*peersDir, p), command: []string{run}, peer: p})
		if *withExec {
			// drain exec takes the replica's port; the peer gets a private
			// one in $PORT, as in a container whose entrypoint is drain exec.
			servers = append(servers, server{name: p + " + drain exec", strategy: peerStrategy(*peersDir, p),
				command: []string{self, "exec", "-q", "--listen", "127.0.0.1:{port}", "--", run}, peer: p})
		}
	}
	if len(servers) == 0 {
		return usagef("nothing to compare: give --modes or --peers")
	}

	var rows []report.Row
	var swept []sweepRow
	started := time.Now()
	total := len(servers) * len(lats)
	i := 0
	for _, s := range servers {
		if s.peer != "" {
			if note, ok := preparePeer(ctx, *peersDir, s.peer, *install, stderr); !ok {
				rows = append(rows, report.Row{Server: s.name, Strategy: s.strategy, Verdict: report.NotInstalled, Note: note})
				i += len(lats)
				continue
			}
		}
		for _, lat := range lats {
			strategy := s.strategy
			if sweep {
				strategy += " " + latencyLabel(lat)
			}
			spec := f.spec(s.command, stderr)
			spec.Latency = lat
			spec.Plan.Env = append(spec.Plan.Env, "HELLO_REST_REQUEST_DELAY="+strconv.FormatFloat(*delay, 'f', -1, 64))
			if isTerminal(stderr) {
				label := fmt.Sprintf("[%d/%d] %s %s", i+1, total, s.name, strategy)
				left := eta(started, i, total)
				spec.Progress = func(line string) { fmt.Fprintf(stderr, "\r\033[K%s  %s%s", label, line, left) }
			} else {
				fmt.Fprintf(stderr, "compare: [%d/%d] %s %s\n", i+1, total, s.name, strategy)
				spec.Progress, _ = newProgress(stderr, "compare:   ")
			}
			i++
			run, err := scenario.Execute(ctx, spec)
			if isTerminal(stderr) {
				fmt.Fprint(stderr, "\r\033[K")
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var row report.Row
			if err != nil && run.Results == nil {
				row = report.FailedRow(s.name, strategy, err)
			} else {
				sum := summarize("drain test", fs, run)
				if sweep {
					sum.Meta.Flags["latency"] = lat.String() // this row's, not the list
				}
				row = report.NewRow(s.name, strategy, sum)
			}
			rows = append(rows, row)
			if sweep {
				swept = append(swept, sweepRow{series: sweepSeries(row, s.strategy), latency: lat, lost: row.Lost, ok: row.Verdict.Measured()})
			}
		}
	}
	if *peersFlag == "all" {
		rows = append(rows, notMeasured...)
	}
	var werr error
	if *jsonOut {
		werr = report.WriteCompareJSON(stdout, rows)
	} else {
		werr = report.WriteCompareTable(stdout, rows)
	}
	if werr != nil {
		return werr
	}
	if *htmlOut != "" {
		if err := writeFile(*htmlOut, func(w io.Writer) error { return report.WriteCompareHTML(w, "drain compare", rows) }); err != nil {
			return err
		}
	}
	if *chartOut != "" {
		return writeFile(*chartOut, func(w io.Writer) error {
			return writeSweepChart(w, "drain compare: lost requests by one-way latency (kernel path)", lats, swept)
		})
	}
	return nil
}

func eta(started time.Time, done, total int) string {
	if done == 0 {
		return ""
	}
	per := time.Since(started) / time.Duration(done)
	return fmt.Sprintf("  (~%s left)", (per * time.Duration(total-done)).Round(time.Second))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// selectPeers resolves --peers against the folders of dir.
func selectPeers(dir, list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, usagef("--peers: %v (run from the repository root or give --peers-dir)", err)
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
	for _, p := range splitList(list) {
		if _, err := os.Stat(filepath.Join(dir, p, "run")); err != nil {
			return nil, usagef("--peers: no peer %q in %s (have: %s)", p, dir, strings.Join(all, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// peerStrategy reads the first line of peers/<p>/strategy, if any.
func peerStrategy(dir, p string) string {
	b, err := os.ReadFile(filepath.Join(dir, p, "strategy"))
	if err != nil {
		return "framework default"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// preparePeer installs (if asked) and checks a peer; it returns a note and
// false when the peer cannot run.
func preparePeer(ctx context.Context, dir, p string, install bool, stderr io.Writer) (string, bool) {
	if install {
		cmd := osexec.CommandContext(ctx, filepath.Join(dir, p, "install"))
		cmd.Stdout, cmd.Stderr = stderr, stderr
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
