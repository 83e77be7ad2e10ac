package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	lib := func(v string, r *debug.Module) []*debug.Module {
		return []*debug.Module{
			{Path: "github.com/go-analyze/charts", Version: "v0.6.4"},
			{Path: libraryPath, Version: v, Replace: r},
		}
	}
	platform := []debug.BuildSetting{{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "arm64"}}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "drain devel\nbuild info: none (not built with module support)\n"},
		{"go install at a tag", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/drainhttp/drain/cmd/drain", Version: "v1.2.3"},
			Deps:      lib("v1.2.3", nil),
			Settings:  platform,
		}, "drain v1.2.3\nmodule github.com/drainhttp/drain/cmd/drain\nlibrary github.com/drainhttp/drain v1.2.3\ngo go1.26.8 darwin/arm64\n"},
		{"checkout, workspace, dirty tree", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/drainhttp/drain/cmd/drain", Version: "(devel)"},
			Deps:      lib("v0.0.0-00010101000000-000000000000", &debug.Module{Path: "./"}),
			Settings: append(platform[:2:2],
				debug.BuildSetting{Key: "vcs", Value: "git"},
				debug.BuildSetting{Key: "vcs.revision", Value: "187b92d0"},
				debug.BuildSetting{Key: "vcs.time", Value: "2026-12-06T00:00:00Z"},
				debug.BuildSetting{Key: "vcs.modified", Value: "true"}),
		}, "drain devel\nmodule github.com/drainhttp/drain/cmd/drain\nlibrary github.com/drainhttp/drain replaced by ./\ngo go1.26.8 darwin/arm64\nvcs git 187b92d0 2026-12-06T00:00:00Z modified\n"},
		{"clean checkout, no platform settings", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/drainhttp/drain/cmd/drain"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "abc"},
				{Key: "vcs.modified", Value: "false"}},
		}, "drain devel\nmodule github.com/drainhttp/drain/cmd/drain\ngo go1.26.8 unknown platform\nvcs git abc\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionText(tc.bi); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestVersionRelease: scripts/release stamps the version of a checkout
// build; a version in the build info (go install ...@v) wins.
func TestVersionRelease(t *testing.T) {
	defer func(v string) { buildVersion = v }(buildVersion)
	buildVersion = "v1.2.3"
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	installed := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.4"}}
	if got := mainVersion(devel); got != "v1.2.3" {
		t.Errorf("checkout build: %q, want the stamped v1.2.3", got)
	}
	if got := mainVersion(installed); got != "v1.2.4" {
		t.Errorf("installed build: %q, want its module version v1.2.4", got)
	}
}

// TestVersionCommand runs the command on the test binary's own build info.
func TestVersionCommand(t *testing.T) {
	stdout, stderr, code := run(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "drain ") || !strings.Contains(stdout, "\ngo go1.") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stderr, code := run(t, "version", "extra"); code != 2 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("extra argument: exit %d, stderr %q", code, stderr)
	}
}
