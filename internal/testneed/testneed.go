// Package testneed is for tests that need something the machine may lack (a tool, root,
// moto, the cached kernel): by hand they skip with a banner nobody can miss; when the
// environment variable CI is set they fail, so a check never silently stops running in CI
// (make test installs everything they need first).
package testneed

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Missing skips t, or fails it when CI is set, saying what is missing and how to get it.
func Missing(t testing.TB, what string) {
	t.Helper()
	bar := strings.Repeat("!", 72)
	msg := "\n" + bar + "\n!!! NOT RUN: " + what + "\n" + bar
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "\n(CI is set: this test must run)")
	}
	t.Skip(msg)
}

// Tool returns the path of the command name, or calls Missing naming the Debian package
// that provides it.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed (apt-get install "+debianPackage+", or make assets): this test proves nothing without it")
	}
	return path
}

// Root calls Missing unless the test runs as root; why says what needs it.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: "+why+" (run it as root, e.g. sudo go test)")
	}
}
