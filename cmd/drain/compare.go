package main

import (
	"context"
	"io"
	"os"

	"github.com/drainhttp/drain/cmd/drain/internal/testrun"
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

func runCompare(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("compare", compareUsage, stderr)
	cfg := testrun.CompareConfig{Stdout: stdout, Stderr: stderr, Self: selfExe, Version: version}
	registerOptions(fs, &cfg.Options)
	fs.BoolVar(&cfg.JSON, "json", false, "print the comparison as JSON")
	fs.StringVar(&cfg.HTML, "html", "", "also write an HTML page (table and one timeline per server) to this file")
	fs.StringVar(&cfg.Peers, "peers", "", "also compare these peers: all, or a comma-separated list of folder names under --peers-dir")
	fs.StringVar(&cfg.PeersDir, "peers-dir", "peers", "the folder holding the peers")
	fs.BoolVar(&cfg.Install, "install", false, "run each selected peer's install script first")
	fs.BoolVar(&cfg.WithExec, "with-exec", false, "also run each selected peer behind drain exec (rows \"PEER + drain exec\")")
	fs.StringVar(&cfg.Modes, "modes", "drain,immediate,stdlib,none", "drain hello strategies to compare (empty: none)")
	fs.Float64Var(&cfg.Delay, "delay", 0.05, "seconds each request takes (HELLO_REST_REQUEST_DELAY for every server)")
	fs.StringVar(&cfg.LatencySweep, "latency-sweep", "", "run every server once per one-way latency of this list (e.g. 0,1ms,5ms,20ms; needs --network=kernel)")
	fs.StringVar(&cfg.SweepChart, "sweep-chart", "", "with --latency-sweep: also write an SVG chart of lost requests per latency to this file")
	fs.IntVar(&cfg.AllowLost, "allow-lost", -1, "exit 1 when a measured row lost more requests than this (-1: no limit; the lossy strategies lose by design)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Args, cfg.Flags = fs.Args(), givenFlags(fs)
	return testrun.Compare(ctx, cfg)
}
