package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
)

// execFailHost fails replace-init's execve.
type execFailHost struct{ *stage2.SandboxHost }

func (execFailHost) Exec(stage2.Cmd) error {
	return errors.New("/usr/bin/app: No such file or directory")
}

func TestFailedStep(t *testing.T) {
	h, err := stage2.NewSandboxHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rt := &stage2.Runtime{Plan: &plan.Plan{}, Host: execFailHost{h}}
	prev := console.Output()
	console.SetOutput(&strings.Builder{})
	defer console.SetOutput(prev)
	replaceErr := stage2.ReplaceInit(rt, stage2.Cmd{Path: "/usr/bin/app"}, false)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"step error", &graph.StepError{Step: "env", Err: errors.New("x")}, "env"},
		{"wrapped step error", fmt.Errorf("stage two: %w", &graph.StepError{Step: "volume-2", Err: errors.New("x")}), "volume-2"},
		{"replace-init execve failure", replaceErr, "command"},
		{"step prefix only", errors.New("step modules: boom"), "modules"},
		{"nothing known", context.Canceled, "steps"},
	} {
		if got := failedStep(tc.err); got != tc.want {
			t.Errorf("%s: failedStep(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestFailureLineNamesStepOnce(t *testing.T) {
	for _, tc := range []struct {
		f    console.Failure
		want string
	}{
		{console.Failure{Stage: "stage2", Step: "env", Err: &graph.StepError{Step: "env", Err: errors.New("secret X: AccessDenied")}},
			"boot failed in stage2, step env: secret X: AccessDenied; stopping everything"},
		{console.Failure{Stage: "stage2", Step: "services", Err: errors.New("service chrony: no user")},
			"boot failed in stage2, step services: service chrony: no user; stopping everything"},
		// Another step's prefix is kept.
		{console.Failure{Stage: "stage2", Step: "steps", Err: errors.New("step x: y")},
			"boot failed in stage2, step steps: step x: y; stopping everything"},
	} {
		if got := failureLine(tc.f); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestInitChronyGID(t *testing.T) {
	for _, tc := range []struct {
		name, group, want string
	}{
		{"no cb-chrony group: passwd primary gid", "root:x:0:\n", "chown /.easyto/run/chrony 105:107"},
		{"no /etc/group at all", "", "chown /.easyto/run/chrony 105:107"},
		{"cb-chrony group", "root:x:0:\ncb-chrony:x:110:\n", "chown /.easyto/run/chrony 105:110"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := stage2.NewSandboxHost(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			os.MkdirAll(filepath.Join(h.Root, "etc"), 0o755)
			os.WriteFile(filepath.Join(h.Root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\ncb-chrony:x:105:107::/:/bin/false\n"), 0o644)
			if tc.group != "" {
				os.WriteFile(filepath.Join(h.Root, "etc/group"), []byte(tc.group), 0o644)
			}
			prev := console.Output()
			console.SetOutput(&strings.Builder{})
			defer console.SetOutput(prev)
			s := New(Config{Host: h, Signals: &Signals{}})
			if err := s.initChrony(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range h.Journal() {
				if e.Op == "chown" {
					got = append(got, e.Op+" "+e.Detail)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("chown %q, want %q", got, tc.want)
			}
		})
	}
}
