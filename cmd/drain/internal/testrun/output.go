package testrun

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/scenario"
)

// checkOutputs checks each output file (flag name -> path) before anything
// starts: a path that looks like a flag (--html --) or cannot be created
// is a UsageError, not something found after the run. A file that did not
// exist is removed again: the run writes it.
func checkOutputs(paths map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(paths)) {
		path := paths[name]
		if path == "" {
			continue
		}
		if strings.HasPrefix(path, "-") {
			return Usagef("--%s %q: looks like a flag, not a file name (write ./%s for a file of that name)", name, path, path)
		}
		_, statErr := os.Stat(path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return Usagef("--%s: %v", name, err)
		}
		f.Close()
		if errors.Is(statErr, fs.ErrNotExist) {
			os.Remove(path) // created only to check: the run writes it
		}
	}
	return nil
}

// openLog creates the --log file, or returns a nil writer without one.
func openLog(path string) (io.Writer, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	lf, err := os.Create(path)
	if err != nil {
		return nil, nil, Usagef("--log: %v", err)
	}
	return lf, func() { lf.Close() }, nil
}

// output writes drain test's reports and gives its verdict.
type output struct {
	stdout        io.Writer
	json          bool
	html, results string
	allowLost     int
}

func (o output) write(sum report.Summary, results []load.Result, name string) error {
	if err := writeReport(o.stdout, sum, o.json); err != nil {
		return err
	}
	if o.html != "" {
		if err := writeFile(o.html, func(w io.Writer) error {
			return report.WriteHTML(w, "drain test: "+name, []report.Section{{Name: name, Summary: sum}})
		}); err != nil {
			return err
		}
	}
	if o.results != "" {
		return writeFile(o.results, func(w io.Writer) error { return load.WriteJSONL(w, results) })
	}
	return nil
}

// report writes sum's reports, then says how the run ended first: the
// reports could not be written, it was interrupted (InterruptedError), or
// it failed (err, which may be nil).
func (o output) report(sum report.Summary, run scenario.Run, name string, err error) error {
	if werr := o.write(sum, run.Results, name); werr != nil {
		return werr
	}
	if run.Interrupted {
		return InterruptedError{run.InterruptedAt}
	}
	return err
}

// check turns too many lost requests into a LostError (exit status 1).
func (o output) check(sum report.Summary) error {
	if sum.Lost > o.allowLost {
		return LostError{Lost: sum.Lost, Allowed: o.allowLost}
	}
	return nil
}

// meta is what a report says about the run that made it.
type meta struct {
	version string
	flags   map[string]string // the flags given, name -> value
}

// summarize reports run; the Summary gets its own copy of the flags (a
// comparison's rows each set their latency).
func (m meta) summarize(run scenario.Run) report.Summary {
	flags := maps.Clone(m.flags)
	if flags == nil {
		flags = map[string]string{}
	}
	rm := report.Meta{Command: "drain test", Flags: flags, Start: run.Start, Duration: run.Duration, Version: m.version, Interrupted: run.Interrupted}
	return report.Summarize(rm, run.Results, run.Events, nil)
}

func writeReport(w io.Writer, s report.Summary, asJSON bool) error {
	if asJSON {
		return report.WriteJSON(w, s)
	}
	return report.WriteTable(w, s)
}

// writeFile creates path and writes it with fn, returning the first error.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
