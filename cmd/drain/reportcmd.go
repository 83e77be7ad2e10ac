package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
)

const reportUsage = `
usage: drain report [flags] RESULTS.jsonl

Renders the report of an earlier 'drain test' again from the file its
--results wrote (every request, one JSON line each): the table (default),
--json, or an HTML page with --html. The results file holds requests only; the
replicas' phases (ready, SIGTERM, endpoint removed, exit) come from the same
run's JSON report: pass it with --run (what 'drain test --json' printed).
Without --run the page shows the requests and the diagnosis from outcomes
alone.

Flags:
`

func runReport(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("report", reportUsage, stderr)
	runFile := fs.String("run", "", "the run's JSON report ('drain test --json' output) for the replicas' phases")
	jsonOut := fs.Bool("json", false, "print the JSON report instead of the table")
	htmlOut := fs.String("html", "", "also write the HTML report to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("report needs one RESULTS.jsonl file (got %d arguments)", fs.NArg())
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return usagef("%v", err)
	}
	defer f.Close()
	results, err := load.ReadJSONL(f)
	if err != nil {
		return usagef("%s: %v", fs.Arg(0), err)
	}
	var run report.Run
	if *runFile != "" {
		rf, err := os.Open(*runFile)
		if err != nil {
			return usagef("--run: %v", err)
		}
		run, err = report.ReadJSON(rf)
		rf.Close()
		if err != nil {
			return usagef("--run %s: %v", *runFile, err)
		}
	}
	sum := report.Resummarize(run, results)
	if *htmlOut != "" {
		hf, err := os.Create(*htmlOut)
		if err != nil {
			return err
		}
		err = report.WriteHTML(hf, "drain report "+fs.Arg(0), []report.Section{{Summary: sum}})
		if cerr := hf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	if *jsonOut {
		return report.WriteJSON(stdout, sum)
	}
	return report.WriteTable(stdout, sum)
}
