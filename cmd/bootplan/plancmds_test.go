package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/testneed"
	"github.com/bootplan/bootplan/plan"
)

// capture runs dispatch with stdout and stderr redirected to files.
func capture(t *testing.T, argv ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	out, _ := os.Create(filepath.Join(dir, "out"))
	errf, _ := os.Create(filepath.Join(dir, "err"))
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, errf
	code = dispatch(append([]string{"bootplan"}, argv...))
	os.Stdout, os.Stderr = oldOut, oldErr
	out.Close()
	errf.Close()
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return code, string(o), string(e)
}

func TestValidateCompileShow(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "command: [/bin/app, $(X)]\nenv:\n  - name: LOG_LEVEL\n    value: topsecret\n")
	bad := write("bad.yaml", "command: [/app]\nworking-dir: rel\nvolumes:\n  - ebs:\n      mount: {destination: /d, fs-type: ext5}\nsysctls:\n  - {name: a b, value: 1}\n")
	unknown := write("unknown.yaml", "debug: true\nfuture: 1\n")
	meta := write("metadata.json", `{"config":{"Entrypoint":["/e"],"User":"app"}}`)
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	// easyto's layout: services are empty files; a directory counts too, a dot file does not.
	os.MkdirAll(filepath.Join(root, ".easyto/services/chrony"), 0o755)
	os.WriteFile(filepath.Join(root, ".easyto/services/ssh"), nil, 0o644)
	os.WriteFile(filepath.Join(root, ".easyto/services/.keep"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("app:x:10:20::/:/bin/sh\n"), 0o644)

	if code, _, stderr := capture(t, "validate", good); code != 0 || stderr != "" {
		t.Errorf("validate good: %d %q", code, stderr)
	}
	code, _, stderr := capture(t, "validate", bad)
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); code != 1 || len(lines) != 4 {
		t.Errorf("validate bad: %d\n%s", code, stderr)
	} else if !strings.HasPrefix(lines[0], bad+":2:14: working-dir: ") {
		t.Errorf("first line %q", lines[0])
	}
	if code, _, stderr := capture(t, "validate", unknown); code != 1 || !strings.Contains(stderr, `:2:1: future: unknown key "future"`) {
		t.Errorf("validate is strict: %d %q", code, stderr)
	}
	if code, stdout, _ := capture(t, "validate", "-o", "json", bad); code != 1 || !strings.Contains(stdout, `"path": "volumes[0].ebs.device"`) {
		t.Errorf("validate -o json: %d %s", code, stdout)
	}
	// named image user without -root: not resolved, no error
	if code, _, stderr := capture(t, "validate", "-metadata", meta, good); code != 0 {
		t.Errorf("validate -metadata: %d %s", code, stderr)
	}

	out := filepath.Join(dir, "plan.toml")
	if code, _, stderr := capture(t, "compile", "-metadata", meta, "-root", root, "-now", "2025-01-02T03:04:05Z", unknown, "-o", out); code != 0 || !strings.Contains(stderr, "warning: future") {
		t.Fatalf("compile: %d %s", code, stderr)
	}
	p, err := plan.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Command.UID != 10 || p.Command.GID != 20 || len(p.Services) != 2 || p.Services[1].Name != "ssh" || p.Source.CompiledAt.Year() != 2025 {
		t.Errorf("compiled plan: %+v", p)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("plan mode %v", fi.Mode().Perm())
	}
	if code, _, _ := capture(t, "compile", good); code != 2 {
		t.Errorf("compile without -metadata: %d", code)
	}

	if code, _, stderr := capture(t, "compile", "-metadata", meta, "-root", root, good, "-o", out); code != 0 {
		t.Fatalf("compile good: %s", stderr)
	}
	code, stdout, _ := capture(t, "show", out)
	if code != 0 || !strings.Contains(stdout, "LOG_LEVEL=<redacted>") || strings.Contains(stdout, "topsecret") {
		t.Errorf("show: %d\n%s", code, stdout)
	}
	for _, f := range []string{"toml", "json"} {
		if _, stdout, _ := capture(t, "show", "-o", f, out); strings.Contains(stdout, "topsecret") || !strings.Contains(stdout, "<redacted>") {
			t.Errorf("show -o %s leaks:\n%s", f, stdout)
		}
	}
	if _, stdout, _ := capture(t, "show", "-reveal", out); !strings.Contains(stdout, "LOG_LEVEL=topsecret") {
		t.Errorf("show -reveal:\n%s", stdout)
	}
	if code, _, stderr := capture(t, "show", filepath.Join(dir, "missing.toml")); code != 2 || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("show missing: %d %s", code, stderr)
	}
	if code, _, _ := capture(t, "nope"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
}

// `bootplan compile -o /dev/null` run as root must leave the device node a device node (an
// atomic replace used to turn it into a regular 0600 file). A device node of the same
// numbers in a temporary directory stands in for /dev/null.
func TestCompileOutputDevice(t *testing.T) {
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data.yaml")
	meta := filepath.Join(dir, "metadata.json")
	if err := os.WriteFile(ud, []byte("command: [/bin/app]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte(`{"config":{"Entrypoint":["/e"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		testneed.Missing(t, fmt.Sprintf("cannot make a device node to test with (needs root): %v", err))
	}
	if code, _, stderr := capture(t, "compile", "-metadata", meta, ud, "-o", null); code != 0 {
		t.Fatalf("compile -o %s: %d %s", null, code, stderr)
	}
	if fi, err := os.Lstat(null); err != nil || fi.Mode().Type() != os.ModeDevice|os.ModeCharDevice {
		t.Fatalf("after compile -o, %s is %v, %v; want the character device still", null, fi.Mode(), err)
	}
}

// TestValidateHugeFile: validate reads at most one byte past the user-data limit and
// answers with the limit (a sparse 1 GiB file, never read whole).
func TestValidateHugeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# ")
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _, err := readInput(p)
	if err != nil || len(b) != plan.MaxUserDataBytes+1 {
		t.Fatalf("readInput: %d bytes, %v; want %d", len(b), err, plan.MaxUserDataBytes+1)
	}
	code, _, stderr := capture(t, "validate", p)
	if code != 1 || !strings.Contains(stderr, "larger than 256 KiB as fetched") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("validate of a 1 GiB file: %d %q", code, stderr)
	}
}

// TestValidateAliasBomb: validate on gzipped user data whose aliases expand to 300 MB
// answers with the expansion budget on one line (the VM scenario alias-bomb boots the same).
func TestValidateAliasBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("x-big: &big \"" + strings.Repeat("a", 200<<10) + "\"\nenv:\n"))
	for i := range 1500 {
		fmt.Fprintf(zw, "  - {name: V%d, value: *big}\n", i)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "bomb.yaml.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := capture(t, "validate", p)
	if code != 1 || !strings.Contains(stderr, p+":7:23: user data is larger than 1 MiB once YAML aliases are expanded") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("validate of an alias bomb: %d %q", code, stderr)
	}
}
