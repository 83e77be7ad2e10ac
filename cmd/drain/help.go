package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The command line's conventions, for every subcommand: help lists the
// flags as --name, grouped by purpose; a flag error is one line that
// points to -h, not the whole help.

// flagGroup is a heading of a subcommand's help and its flags, in order.
type flagGroup struct {
	title string
	names []string
}

// testGroups order drain test's flags by purpose (drain compare's too).
var testGroups = []flagGroup{
	{"Replicas and rollout", []string{"replicas", "rollout", "ready-delay", "ready-path", "tcp-ready", "prestop", "grace", "warmup", "settle", "pod-env"}},
	{"kube-proxy model", []string{"propagation", "sync-period", "teardown"}},
	{"Network path", []string{"network", "latency", "jitter", "latency-sweep", "router"}},
	{"Load", []string{"rate", "duration", "conns", "no-reuse", "post-ratio", "client", "protocol", "timeout", "expect", "method", "host", "header", "insecure", "ca"}},
	{"Steady state (the whole run)", []string{"quiet", "quiet-after", "quiet-latency"}},
	{"Hard cases (per restart)", []string{"idle", "half-sent", "slow-body", "idle-after", "arm-after", "arm-on"}},
	{"A running service instead of replicas", []string{"target", "during", "namespace", "n"}},
	{"Output and exit status", []string{"json", "html", "results", "log", "allow-lost", "max-latency", "sweep-chart"}},
}

// flagGroups orders each subcommand's flags by purpose in its help. A flag
// in no group is listed under "Other flags"; a subcommand without groups
// gets one "Flags" list.
var flagGroups = map[string][]flagGroup{
	"test": testGroups,
	"exec": {
		{"Listening and readiness", []string{"listen", "ready-path", "ready", "upstream-ready-path", "ready-timeout", "tcp-ready"}},
		{"The drain", []string{"lame-duck", "quiet", "idle", "keepalive", "deadline", "force-after"}},
		{"The application (COMMAND)", []string{"child-signal", "child-grace"}},
		{"Proxying", []string{"fast-path", "read-header-timeout", "max-header-bytes", "trust-forwarded"}},
		{"Logging", []string{"q"}},
	},
	"hello": {
		{"Serving", []string{"addr", "delay", "tls", "tls-cert", "idle-timeout"}},
		{"Shutdown", []string{"shutdown", "lame-duck", "quiet", "ready", "keepalive", "deadline"}},
		{"Logging", []string{"v"}},
	},
	"compare": append([]flagGroup{
		{"Servers to compare", []string{"modes", "peers", "peers-dir", "install", "with-exec", "delay"}},
	}, testGroups...),
}

// newFlags returns a FlagSet that reports errors instead of exiting; its
// Usage prints usage (a subcommand's help text, ending in "Flags:") and the
// flags, grouped.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors, in one line
	fs.Usage = func() {
		text := strings.TrimLeft(usage, "\n")
		text = strings.TrimSuffix(strings.TrimRight(text, "\n"), "Flags:")
		fmt.Fprint(stderr, text)
		printFlags(stderr, fs)
	}
	return fs
}

// parse parses args. -h prints the help (flag.ErrHelp is returned); a bad
// flag is a usage error of one line that names the flag as --name and
// points to -h.
func parse(fs *flag.FlagSet, args []string) error {
	help := fs.Usage
	fs.Usage = func() {} // the flag package calls it on every error too
	err := fs.Parse(args)
	fs.Usage = help
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		help()
		return err
	}
	msg := strings.NewReplacer("flag: -", "flag: --", "flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
	return usageError{fmt.Errorf("%s (drain %s -h lists the flags)", msg, fs.Name())}
}

// printFlags lists fs's flags as --name, grouped by flagGroups.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var all []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { all = append(all, f) })
	groups := flagGroups[fs.Name()]
	grouped := map[string]bool{}
	for _, g := range groups {
		for _, n := range g.names {
			grouped[n] = true
		}
	}
	var rest []*flag.Flag
	for _, f := range all {
		if !grouped[f.Name] {
			rest = append(rest, f)
		}
	}
	if len(rest) == len(all) {
		fmt.Fprint(w, "Flags:\n")
		printFlagList(w, all)
		return
	}
	for _, g := range groups {
		var fl []*flag.Flag
		for _, n := range g.names {
			if f := fs.Lookup(n); f != nil {
				fl = append(fl, f)
			}
		}
		if len(fl) > 0 {
			fmt.Fprintf(w, "%s:\n", g.title)
			printFlagList(w, fl)
			fmt.Fprintln(w)
		}
	}
	if len(rest) > 0 {
		fmt.Fprint(w, "Other flags:\n")
		printFlagList(w, rest)
	}
}

// printFlagList prints each flag the way flag.PrintDefaults does, with two
// dashes.
func printFlagList(w io.Writer, fl []*flag.Flag) {
	for _, f := range fl {
		var b strings.Builder
		dashes := "--"
		if len(f.Name) == 1 { // -q, -v: the short form reads as one
			dashes = "-"
		}
		fmt.Fprintf(&b, "  %s%s", dashes, f.Name)
		typ, usage := flag.UnquoteUsage(f)
		if typ != "" {
			b.WriteString(" " + typ)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := f.DefValue; !isZeroDefault(f, def) {
			if typ == "string" {
				fmt.Fprintf(&b, " (default %q)", def)
			} else {
				fmt.Fprintf(&b, " (default %v)", def)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// isZeroDefault reports whether def is the zero value of f's type, which
// flag.PrintDefaults leaves unsaid.
func isZeroDefault(f *flag.Flag, def string) bool {
	switch def {
	case "", "0", "0s", "false", "[]":
		return true
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return def == "false"
	}
	return false
}
