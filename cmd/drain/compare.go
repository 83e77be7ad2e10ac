package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/compare"
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

Exit status: 0, or 1 when --allow-lost N is given and a measured row lost
more than N requests; 2 on bad usage.

Flags:
`

// selfExe finds the binary that runs drain hello (tests point it at a built
// drain, since they run inside the test binary).
var selfExe = os.Executable

// notMeasured are frameworks the article this project answers ("Zero
// downtime shutdown for REST APIs") reports on whose runtimes are not in the
// registries this project reaches; their rows keep the article's claims.
var notMeasured = []report.Row{
	{Server: "Spring Boot/Undertow", Strategy: "503 on late requests", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the article reports 503s and connections kept open"},
	{Server: "Quarkus", Strategy: "503 then close", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the article reports 503 to late requests, then close"},
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
	allowLost := fs.Int("allow-lost", -1, "exit 1 when a measured row lost more requests than this (-1: no limit; the lossy strategies lose by design)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	lats := []time.Duration{f.latency}
	sweep := *sweepFlag != ""
	switch {
	case *allowLost < -1:
		return usagef("--allow-lost %d: need a number of requests >= 0, or -1 for no limit", *allowLost)
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
	// Output paths are checked before any row runs (a typo found after
	// every row was measured costs the whole comparison).
	if err := checkOutputs(map[string]string{"html": *htmlOut, "sweep-chart": *chartOut}); err != nil {
		return err
	}
	self, err := selfExe()
	if err != nil {
		return fmt.Errorf("compare: finding this binary to run drain hello: %w", err)
	}
	var servers []compare.Server
	for _, m := range compare.SplitList(*modes) {
		mode, err := hello.ParseMode(m)
		if err != nil {
			return usageError{err}
		}
		servers = append(servers, compare.Server{Name: "drain hello", Strategy: string(mode), Command: []string{self, "hello", "--shutdown", string(mode)}})
	}
	peers, err := compare.SelectPeers(*peersDir, *peersFlag)
	if err != nil {
		return usageError{err}
	}
	for _, p := range peers {
		run := filepath.Join(*peersDir, p, "run")
		strategy := compare.PeerStrategy(*peersDir, p)
		servers = append(servers, compare.Server{Name: p, Strategy: strategy, Command: []string{run}, Peer: p})
		if *withExec {
			// drain exec takes the replica's port; the peer gets a private
			// one in $PORT, as in a container whose entrypoint is drain exec.
			servers = append(servers, compare.Server{Name: p + " + drain exec", Strategy: strategy,
				Command: []string{self, "exec", "-q", "--listen", "127.0.0.1:{port}", "--", run}, Peer: p})
		}
	}
	if len(servers) == 0 {
		return usagef("nothing to compare: give --modes or --peers")
	}

	started := time.Now()
	res, err := compare.Run(ctx, compare.Config{
		Servers: servers, Latencies: lats, Sweep: sweep,
		PeersDir: *peersDir, Install: *install, Log: stderr,
		Spec: func(s compare.Server, lat time.Duration) scenario.Spec {
			spec := f.spec(s.Command)
			spec.Latency = lat
			spec.Plan.Env = append(spec.Plan.Env, "HELLO_REST_REQUEST_DELAY="+strconv.FormatFloat(*delay, 'f', -1, 64))
			return spec
		},
		Summarize: func(run scenario.Run, lat time.Duration) report.Summary {
			sum := summarize("drain test", fs, run)
			if sweep {
				sum.Meta.Flags["latency"] = lat.String() // this row's, not the list
			}
			return sum
		},
		Begin: func(i, total int, s compare.Server, strategy string) (func(string), func()) {
			label := fmt.Sprintf("[%d/%d] %s %s", i+1, total, s.Name, strategy)
			if isTerminal(stderr) {
				left := eta(started, i, total)
				return func(line string) { fmt.Fprintf(stderr, "\r\033[K%s  %s%s", label, line, left) },
					func() { fmt.Fprint(stderr, "\r\033[K") }
			}
			fmt.Fprintf(stderr, "compare: %s\n", label)
			return newProgress(stderr, "compare:   ")
		},
	})
	if err != nil {
		return err
	}
	rows := res.Rows
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
		if err := writeFile(*chartOut, func(w io.Writer) error {
			return report.WriteSweepChart(w, "drain compare: lost requests by one-way latency (kernel path)", lats, res.Sweep)
		}); err != nil {
			return err
		}
	}
	return checkRows(rows, *allowLost)
}

// checkRows turns a measured row that lost more than allowed (>= 0) into
// exit status 1, naming the worst row.
func checkRows(rows []report.Row, allowed int) error {
	if allowed < 0 {
		return nil
	}
	var over []report.Row
	for _, r := range rows {
		if r.Verdict.Measured() && r.Lost > allowed {
			over = append(over, r)
		}
	}
	if len(over) == 0 {
		return nil
	}
	worst := slices.MaxFunc(over, func(a, b report.Row) int { return a.Lost - b.Lost })
	return lostError{lost: worst.Lost, allowed: allowed, row: fmt.Sprintf("%s %s", worst.Server, worst.Strategy), rows: len(over)}
}

func eta(started time.Time, done, total int) string {
	if done == 0 {
		return ""
	}
	per := time.Since(started) / time.Duration(done)
	return fmt.Sprintf("  (~%s left)", (per * time.Duration(total-done)).Round(time.Second))
}

// parseSweep parses --latency-sweep "0,1ms,5ms,20ms" into latencies (>= 0,
// no repeats).
func parseSweep(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range compare.SplitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 {
			return nil, usagef("--latency-sweep %q: %q is not a duration >= 0 (e.g. 0,1ms,5ms,20ms)", s, p)
		}
		if slices.Contains(out, d) {
			return nil, usagef("--latency-sweep %q: %v given twice", s, d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, usagef("--latency-sweep %q: no latency given", s)
	}
	return out, nil
}
