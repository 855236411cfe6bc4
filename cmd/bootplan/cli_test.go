//go:build !validateonly

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/plan"
)

func writeTemp(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withStdin runs f with os.Stdin reading s.
func withStdin(t *testing.T, s string, f func()) {
	t.Helper()
	p := writeTemp(t, "stdin", s)
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	f()
}

func TestHelpExitsZero(t *testing.T) {
	for _, argv := range [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "validate"}, {"validate", "-h"}, {"validate", "--help"},
		{"report", "-h"}, {"help", "stage2"}, {"compile", "x", "--help"}} {
		code, stdout, stderr := capture(t, argv...)
		if code != exitOK || !strings.Contains(stdout, "usage: bootplan") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", argv, code, stdout, stderr)
		}
	}
	if _, stdout, _ := capture(t, "help", "validate"); !strings.Contains(stdout, "--annotate") && !strings.Contains(stdout, "-annotate") {
		t.Errorf("help validate does not show validate's flags:\n%s", stdout)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, argv := range [][]string{{}, {"nope"}, {"help", "nope"}, {"validate", "--no-such-flag", "x"}, {"validate", "a", "b"},
		{"validate", "--format", "xml", "x"}, {"report", "--sort", "name"}, {"completion"}, {"completion", "tcsh"}} {
		if code, _, _ := capture(t, argv...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", argv, code, exitUsage)
		}
	}
}

func TestFormatsAndDeprecatedO(t *testing.T) {
	bad := writeTemp(t, "bad.yaml", "working-dir: rel\n")
	code, stdout, stderr := capture(t, "validate", "--format", "json", bad)
	var diags []plan.Diagnostic
	if code != exitInvalid || json.Unmarshal([]byte(stdout), &diags) != nil || len(diags) != 1 || diags[0].Path != "working-dir" || stderr != "" {
		t.Fatalf("validate --format json: %d %q %q", code, stdout, stderr)
	}
	// The old spelling keeps working for a release, with a deprecation line.
	code, stdout2, stderr := capture(t, "validate", "-o", "json", bad)
	if code != exitInvalid || stdout2 != stdout || !strings.Contains(stderr, "-o json is deprecated: use --format json") {
		t.Fatalf("validate -o json: %d %q %q", code, stdout2, stderr)
	}
	// -o FILE writes the output there.
	out := filepath.Join(t.TempDir(), "diags.json")
	if code, stdout, _ := capture(t, "validate", "--format", "json", "-o", out, bad); code != exitInvalid || stdout != "" {
		t.Fatalf("validate -o FILE: %d %q", code, stdout)
	}
	if b, _ := os.ReadFile(out); string(b) != stdout {
		t.Fatalf("-o FILE holds %q, want %q", b, stdout)
	}
	// A missing input is an I/O error, not invalid input.
	if code, _, _ := capture(t, "validate", filepath.Join(t.TempDir(), "absent.yaml")); code != exitUsage {
		t.Errorf("validate of a missing file: %d", code)
	}
}

func TestValidateDefaultsToSavedUserData(t *testing.T) {
	if _, err := os.Stat(plan.UserDataPath); err == nil {
		t.Skipf("this machine has %s", plan.UserDataPath)
	}
	code, _, stderr := capture(t, "validate")
	if code != exitUsage || !strings.Contains(stderr, plan.UserDataPath) {
		t.Fatalf("validate without a file: %d %q", code, stderr)
	}
}

func TestValidateAnnotate(t *testing.T) {
	f := writeTemp(t, "ud.yaml", "command: [/app]\nworking-dir: rel\n")
	code, _, stderr := capture(t, "validate", "--annotate", f)
	want := "2 | working-dir: rel\n  |              ^ error: working-dir: must be an absolute path"
	if code != exitInvalid || !strings.Contains(stderr, want) {
		t.Fatalf("--annotate: %d\n%s", code, stderr)
	}
}

func TestShowStdinAndFormats(t *testing.T) {
	ud := writeTemp(t, "ud.yaml", "command: [/app]\nenv:\n  - {name: TOKEN, value: hunter2}\n")
	meta := writeTemp(t, "metadata.json", `{"config":{}}`)
	code, planText, stderr := capture(t, "compile", "--metadata", meta, "--now", "2025-01-02T03:04:05Z", ud)
	if code != exitOK {
		t.Fatalf("compile: %d %s", code, stderr)
	}
	var out string
	withStdin(t, planText, func() { code, out, stderr = capture(t, "show", "--format", "json", "-") })
	if code != exitOK || !strings.Contains(out, `"TOKEN"`) || strings.Contains(out, "hunter2") {
		t.Fatalf("show - --format json: %d %q %q", code, out, stderr)
	}
	withStdin(t, "not a plan", func() { code, _, _ = capture(t, "show", "-") })
	if code != exitInvalid {
		t.Fatalf("show - of garbage: %d, want %d", code, exitInvalid)
	}
}

const reportOK = `version = 1
started_at = 2026-12-01T00:00:00Z
result = "ok"

[[step]]
name = "env-from-0"
status = "ok"
start_ms = 0.0
duration_ms = 120.0

[[step]]
name = "env"
status = "ok"
start_ms = 120.0
duration_ms = 1.0
after = ["env-from-0"]

[[step]]
name = "volume-0"
status = "skipped"
start_ms = 121.0
duration_ms = 3.0
after = ["env"]
error = "optional source missing"
`

func TestReportFormatsAndExitCodes(t *testing.T) {
	ok := writeTemp(t, "report.toml", reportOK)
	failed := writeTemp(t, "failed.toml", strings.Replace(reportOK, `result = "ok"`, `result = "failed"`+"\nerror = \"step env: boom\"", 1))
	if code, out, _ := capture(t, "report", ok); code != exitOK || !strings.Contains(out, "env-from-0") {
		t.Errorf("report: %d %q", code, out)
	}
	if code, _, _ := capture(t, "report", failed); code != exitInvalid {
		t.Errorf("report of a failed boot: %d, want %d", code, exitInvalid)
	}
	if code, _, _ := capture(t, "report", filepath.Join(t.TempDir(), "none.toml")); code != exitUsage {
		t.Errorf("report of a missing file: %d, want %d", code, exitUsage)
	}
	code, out, _ := capture(t, "report", "--format", "json", ok)
	var r struct {
		Result string
		Steps  []struct {
			Name  string
			After []string
		}
	}
	if code != exitOK || json.Unmarshal([]byte(out), &r) != nil || r.Result != "ok" || len(r.Steps) != 3 || r.Steps[1].After[0] != "env-from-0" {
		t.Errorf("report --format json: %d %q", code, out)
	}
	code, out, _ = capture(t, "report", "--sort", "time", ok)
	if i, j := strings.Index(out, "env-from-0"), strings.Index(out, "volume-0"); code != exitOK || i < 0 || j < 0 || i > j {
		t.Errorf("report --sort time: longest first:\n%s", out)
	}
	code, out, _ = capture(t, "report", "--format", "svg", ok)
	if code != exitOK || !strings.HasPrefix(out, "<svg") || !strings.Contains(out, "critical path") {
		t.Errorf("report --format svg: %d %.200q", code, out)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := capture(t, "completion", sh)
		if code != exitOK {
			t.Fatalf("completion %s: %d", sh, code)
		}
		for _, want := range []string{"validate", "compile", "report", "annotate"} {
			if !strings.Contains(out, want) {
				t.Errorf("completion %s lacks %q", sh, want)
			}
		}
		if sh == "bash" {
			if bash, err := exec.LookPath("bash"); err == nil {
				c := exec.Command(bash, "-n")
				c.Stdin = strings.NewReader(out)
				if b, err := c.CombinedOutput(); err != nil {
					t.Errorf("bash -n: %v %s", err, b)
				}
			}
		}
	}
}

// A release build says its version everywhere: --version and the plan's provenance.
func TestReleaseVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "bootplan-validate")
	build := exec.Command("go", "build", "-tags", "validateonly", "-ldflags",
		"-X github.com/bootplan/bootplan/internal/version.override=v9.8.7", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || string(out) != "bootplan-validate v9.8.7\n" {
		t.Fatalf("--version: %q %v", out, err)
	}
	ud := writeTemp(t, "ud.yaml", "command: [/app]\n")
	meta := writeTemp(t, "metadata.json", `{"config":{}}`)
	out, err = exec.Command(bin, "compile", "--metadata", meta, ud).Output()
	if err != nil || !strings.Contains(string(out), "v9.8.7") {
		t.Fatalf("compiled plan does not record the version: %v\n%s", err, out)
	}
}

// The standalone validator links neither stage two nor the AWS SDK.
func TestValidatorHasNoAWSSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "validateonly", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/aws/") || strings.HasPrefix(p, "github.com/bootplan/bootplan/stage2") {
			t.Errorf("bootplan-validate imports %s", p)
		}
	}
}
