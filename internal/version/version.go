// Package version says which bootplan this is, the same way in both binaries and in every
// place a version is printed or recorded (the plan's provenance, `--version`, the report).
package version

import "runtime/debug"

// override is set for release builds:
// -ldflags "-X github.com/bootplan/bootplan/internal/version.override=v1.2.3".
var override string

// String is the release version when one was stamped in, else what the Go toolchain recorded
// from version control at build time (a pseudo-version such as
// v0.0.0-20261201010434-4cab339abcde, "+dirty" when the tree had uncommitted changes), else
// "devel" (go test and go run builds, which record no VCS state).
func String() string {
	if override != "" {
		return override
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel-" + rev
	if dirty {
		v += "+dirty"
	}
	return v
}
