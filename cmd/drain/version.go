package main

import (
	"runtime/debug"
)

// version is the module version drain was built from, or "devel".
var version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}()
