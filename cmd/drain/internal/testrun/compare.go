package testrun

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/compare"
	"github.com/drainhttp/drain/cmd/drain/internal/hello"
	"github.com/drainhttp/drain/cmd/drain/internal/progress"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

// CompareConfig is one drain compare: the shared Options (every row's) and
// what only drain compare has.
type CompareConfig struct {
	Options
	Args []string // positional arguments (drain compare takes none)

	Modes        string  // --modes: drain hello strategies, comma-separated
	Peers        string  // --peers: all, or a comma-separated list
	PeersDir     string  // --peers-dir
	Install      bool    // --install
	WithExec     bool    // --with-exec
	Delay        float64 // --delay, seconds
	LatencySweep string  // --latency-sweep
	JSON         bool    // --json
	HTML         string  // --html file
	SweepChart   string  // --sweep-chart file
	AllowLost    int     // --allow-lost (-1: no limit)

	// Self finds the binary that runs drain hello and drain exec; called
	// once the options are checked.
	Self    func() (string, error)
	Version string            // drain's version, for the reports
	Flags   map[string]string // the flags given (name -> value), for the reports
	Stdout  io.Writer         // the table or JSON
	Stderr  io.Writer         // progress, the peers' install output
}

// notMeasured are frameworks the article this project answers ("Zero
// downtime shutdown for REST APIs") reports on whose runtimes are not in the
// registries this project reaches; their rows keep the article's claims.
var notMeasured = []report.Row{
	{Server: "Spring Boot/Undertow", Strategy: "503 on late requests", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the article reports 503s and connections kept open"},
	{Server: "Quarkus", Strategy: "503 then close", Verdict: report.NotMeasured, Note: "not measured here: no Maven repository; the article reports 503 to late requests, then close"},
}

// Compare checks cfg (a UsageError before any row runs), runs every server
// (once per latency of a sweep), writes the table or JSON and the files
// asked for, and returns the verdict: nil, or a LostError naming the worst
// row over --allow-lost.
func Compare(ctx context.Context, cfg CompareConfig) error {
	f := cfg.Options
	expect, err := f.check()
	if err != nil {
		return err
	}
	lats := []time.Duration{f.Latency}
	sweep := cfg.LatencySweep != ""
	switch {
	case cfg.AllowLost < -1:
		return Usagef("--allow-lost %d: need a number of requests >= 0, or -1 for no limit", cfg.AllowLost)
	case sweep && f.Network != scenario.NetworkKernel:
		return Usagef("--latency-sweep needs --network=kernel (the delay comes from a relay in the kernel path)")
	case sweep && f.Latency != 0:
		return Usagef("give --latency or --latency-sweep, not both")
	case cfg.SweepChart != "" && !sweep:
		return Usagef("--sweep-chart needs --latency-sweep")
	case sweep:
		if lats, err = parseSweep(cfg.LatencySweep); err != nil {
			return err
		}
	}
	if len(cfg.Args) > 0 {
		return Usagef("compare takes no arguments, got %q", cfg.Args)
	}
	// Output paths are checked before any row runs (a typo found after
	// every row was measured costs the whole comparison).
	if err := checkOutputs(map[string]string{"html": cfg.HTML, "sweep-chart": cfg.SweepChart}); err != nil {
		return err
	}
	servers, err := cfg.servers()
	if err != nil {
		return err
	}

	started := time.Now()
	m := meta{version: cfg.Version, flags: cfg.Flags}
	res, err := compare.Run(ctx, compare.Config{
		Servers: servers, Latencies: lats, Sweep: sweep,
		PeersDir: cfg.PeersDir, Install: cfg.Install, Log: cfg.Stderr,
		Spec: func(s compare.Server, lat time.Duration) scenario.Spec {
			spec := f.spec(s.Command, expect)
			spec.Latency = lat
			spec.Plan.Env = append(spec.Plan.Env, "HELLO_REST_REQUEST_DELAY="+strconv.FormatFloat(cfg.Delay, 'f', -1, 64))
			return spec
		},
		Summarize: func(run scenario.Run, lat time.Duration) report.Summary {
			sum := m.summarize(run)
			if sweep {
				sum.Meta.Flags["latency"] = lat.String() // this row's, not the list
			}
			return sum
		},
		Begin: func(i, total int, s compare.Server, strategy string) (func(string), func()) {
			label := fmt.Sprintf("[%d/%d] %s %s", i+1, total, s.Name, strategy)
			if progress.IsTerminal(cfg.Stderr) {
				left := progress.ETA(started, i, total)
				return func(line string) { fmt.Fprintf(cfg.Stderr, "\r\033[K%s  %s%s", label, line, left) },
					func() { fmt.Fprint(cfg.Stderr, "\r\033[K") }
			}
			fmt.Fprintf(cfg.Stderr, "compare: %s\n", label)
			return progress.New(cfg.Stderr, "compare:   ")
		},
	})
	if err != nil {
		return err
	}
	rows := res.Rows
	if cfg.Peers == "all" {
		rows = append(rows, notMeasured...)
	}
	if cfg.JSON {
		err = report.WriteCompareJSON(cfg.Stdout, rows)
	} else {
		err = report.WriteCompareTable(cfg.Stdout, rows)
	}
	if err != nil {
		return err
	}
	if cfg.HTML != "" {
		if err := writeFile(cfg.HTML, func(w io.Writer) error { return report.WriteCompareHTML(w, "drain compare", rows) }); err != nil {
			return err
		}
	}
	if cfg.SweepChart != "" {
		if err := writeFile(cfg.SweepChart, func(w io.Writer) error {
			return report.WriteSweepChart(w, "drain compare: lost requests by one-way latency (kernel path)", lats, res.Sweep)
		}); err != nil {
			return err
		}
	}
	return CheckRows(rows, cfg.AllowLost)
}

// servers lists the servers to compare: drain hello per --modes, then each
// peer (and, with --with-exec, the peer behind drain exec).
func (cfg CompareConfig) servers() ([]compare.Server, error) {
	self, err := cfg.Self()
	if err != nil {
		return nil, fmt.Errorf("compare: finding this binary to run drain hello: %w", err)
	}
	var servers []compare.Server
	for _, m := range compare.SplitList(cfg.Modes) {
		mode, err := hello.ParseMode(m)
		if err != nil {
			return nil, UsageError{err}
		}
		servers = append(servers, compare.Server{Name: "drain hello", Strategy: string(mode), Command: []string{self, "hello", "--shutdown", string(mode)}})
	}
	peers, err := compare.SelectPeers(cfg.PeersDir, cfg.Peers)
	if err != nil {
		return nil, UsageError{err}
	}
	for _, p := range peers {
		run := filepath.Join(cfg.PeersDir, p, "run")
		strategy := compare.PeerStrategy(cfg.PeersDir, p)
		servers = append(servers, compare.Server{Name: p, Strategy: strategy, Command: []string{run}, Peer: p})
		if cfg.WithExec {
			// drain exec takes the replica's port; the peer gets a private
			// one in $PORT, as in a container whose entrypoint is drain exec.
			servers = append(servers, compare.Server{Name: p + " + drain exec", Strategy: strategy,
				Command: []string{self, "exec", "-q", "--listen", "127.0.0.1:{port}", "--", run}, Peer: p})
		}
	}
	if len(servers) == 0 {
		return nil, Usagef("nothing to compare: give --modes or --peers")
	}
	return servers, nil
}

// CheckRows turns a measured row that lost more than allowed (>= 0) into a
// LostError (exit status 1) naming the worst row; rows not measured do not
// count; allowed < 0 sets no limit.
func CheckRows(rows []report.Row, allowed int) error {
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
	return LostError{Lost: worst.Lost, Allowed: allowed, Row: fmt.Sprintf("%s %s", worst.Server, worst.Strategy), Rows: len(over)}
}

// parseSweep parses --latency-sweep "0,1ms,5ms,20ms" into latencies (>= 0,
// no repeats).
func parseSweep(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range compare.SplitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 {
			return nil, Usagef("--latency-sweep %q: %q is not a duration >= 0 (e.g. 0,1ms,5ms,20ms)", s, p)
		}
		if slices.Contains(out, d) {
			return nil, Usagef("--latency-sweep %q: %v given twice", s, d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, Usagef("--latency-sweep %q: no latency given", s)
	}
	return out, nil
}
