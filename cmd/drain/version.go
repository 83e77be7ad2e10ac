package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is the module version drain was built from, or "devel".
var version = func() string {
	bi, _ := debug.ReadBuildInfo()
	return mainVersion(bi)
}()

// libraryPath is the library's module path: a build of the tool records the
// library's version as one of its dependencies.
const libraryPath = "github.com/drainhttp/drain"

// buildVersion is set by scripts/release (-ldflags "-X
// main.buildVersion=vX.Y.Z") for a build whose build info has no version:
// one from a checkout or from the workspace.
var buildVersion string

// mainVersion is the tool module's version in bi: "v1.2.3" for `go install
// github.com/drainhttp/drain/cmd/drain@v1.2.3`; for a build from a checkout
// (Go records "(devel)" there, or nothing without build info) buildVersion,
// or "devel" without it.
func mainVersion(bi *debug.BuildInfo) string {
	if bi == nil || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		if buildVersion != "" {
			return buildVersion
		}
		return "devel"
	}
	return bi.Main.Version
}

const versionUsage = `
usage: drain version

Prints the version drain was built from: the tool's module version (what
'go install ...@vX.Y.Z' fetched, or "devel" for a build from a checkout), the
library's version it was built with, the Go toolchain and platform, and the
commit a checkout build came from (vcs.revision, vcs.time, and "modified" if
the tree had uncommitted changes). Paste it into bug reports.
`

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("version", versionUsage, stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version takes no arguments (got %q)", fs.Args())
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	_, err := io.WriteString(stdout, versionText(bi))
	return err
}

// versionText formats bi for `drain version`, one "key value" line each, so
// that both people and scripts (awk '$1=="drain"{print $2}') read it.
func versionText(bi *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drain %s\n", mainVersion(bi))
	if bi == nil {
		b.WriteString("build info: none (not built with module support)\n")
		return b.String()
	}
	if bi.Main.Path != "" {
		fmt.Fprintf(&b, "module %s\n", bi.Main.Path)
	}
	for _, d := range bi.Deps {
		if d.Path != libraryPath {
			continue
		}
		v := d.Version
		if d.Replace != nil {
			// A workspace or replace directive: the library in a local tree
			// (the placeholder version means nothing then).
			v = d.Replace.Path
			if d.Replace.Version != "" {
				v += " " + d.Replace.Version
			}
			v = "replaced by " + v
		}
		fmt.Fprintf(&b, "library %s %s\n", d.Path, v)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	platform := settings["GOOS"] + "/" + settings["GOARCH"]
	if platform == "/" {
		platform = "unknown platform"
	}
	fmt.Fprintf(&b, "go %s %s\n", bi.GoVersion, platform)
	if rev := settings["vcs.revision"]; rev != "" {
		line := settings["vcs"] + " " + rev
		if t := settings["vcs.time"]; t != "" {
			line += " " + t
		}
		if settings["vcs.modified"] == "true" {
			line += " modified"
		}
		fmt.Fprintf(&b, "vcs %s\n", strings.TrimSpace(line))
	}
	return b.String()
}
