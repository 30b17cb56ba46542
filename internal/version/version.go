// Package version holds the release version, set at build time with
// -ldflags "-X github.com/mlship/mlship/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version of the tools.
var Version = ""

// String returns the build's version: the one set at build time, else the
// module version recorded by `go install`, else "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
