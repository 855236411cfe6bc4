// Package vm boots every scenario under tests/scenarios in QEMU. It runs only when
// BOOTPLAN_VM=1 (set by `make vm-test`), so `go test ./...` stays fast and needs no root.
//
//	SCENARIO=name      run one scenario (comma-separated for several)
//	SCENARIOS=DIR      take scenario folders from DIR instead of tests/scenarios
//	VM_PARALLEL=N      VMs at once (default 2)
package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootplan/bootplan/tests/internal/vmrun"
)

func repoRoot(t testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func enabled(t *testing.T) {
	if os.Getenv("BOOTPLAN_VM") != "1" {
		t.Skip("VM tests run with BOOTPLAN_VM=1 (make vm-test)")
	}
}

func loadScenarios(t *testing.T, dir string) []*vmrun.Scenario {
	all, err := vmrun.LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := os.Getenv("SCENARIO")
	if want == "" {
		return all
	}
	names := map[string]bool{}
	for _, n := range strings.Split(want, ",") {
		names[strings.TrimSpace(n)] = true
	}
	var out []*vmrun.Scenario
	for _, s := range all {
		if names[s.Name] {
			out = append(out, s)
			delete(names, s.Name)
		}
	}
	for n := range names {
		t.Errorf("SCENARIO=%s: no such scenario in %s", n, dir)
	}
	return out
}

func parallelism() int {
	if n, err := strconv.Atoi(os.Getenv("VM_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 2
}

// runAll boots scenarios, at most parallelism() at once.
func runAll(t *testing.T, env *vmrun.Env, scs []*vmrun.Scenario) {
	sem := make(chan struct{}, parallelism())
	var mu sync.Mutex
	var passed, failed []string
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("VM suite: %d scenarios, %d passed, %d failed, total %s",
			len(passed)+len(failed), len(passed), len(failed), time.Since(start).Round(time.Second))
		if len(failed) > 0 {
			t.Logf("failed: %s", strings.Join(failed, " "))
		}
		fmt.Printf("VM suite total time: %s (%d passed, %d failed)\n", time.Since(start).Round(time.Second), len(passed), len(failed))
	})
	env.Prebuild(scs)
	// Real images build in the background meanwhile: their scenarios queue last, so that
	// they do not hold a VM slot while waiting for mmdebstrap.
	scs = append([]*vmrun.Scenario(nil), scs...)
	sort.SliceStable(scs, func(i, j int) bool { return scs[i].Config.Image == "" && scs[j].Config.Image != "" })
	t.Run("scenario", func(t *testing.T) {
		for _, sc := range scs {
			t.Run(sc.Name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				// bounded: every boot has its own timeout; this bounds setup too
				limit := time.Duration(sc.Config.Boots)*sc.Config.Timeout.Duration + 2*time.Minute
				if sc.Config.Image != "" {
					limit += vmrun.ImageBuildTimeout // it may still be building
				}
				ctx, cancel := context.WithTimeout(context.Background(), limit)
				defer cancel()
				res, err := env.Run(ctx, sc, vmrun.Options{})
				mu.Lock()
				if err != nil || !res.Passed() {
					failed = append(failed, sc.Name)
				} else {
					passed = append(passed, sc.Name)
				}
				mu.Unlock()
				if err != nil {
					t.Fatalf("harness: %v", err)
				}
				var times []string
				for _, b := range res.Boots {
					times = append(times, b.Round(100*time.Millisecond).String())
				}
				t.Logf("boot time %s; console %s", strings.Join(times, " + "), strings.Join(res.Logs, " "))
				if !res.Passed() {
					t.Errorf("FAIL %s:\n  %s\n--- last console lines ---\n%s\n---", sc.Name, strings.Join(res.Problems, "\n  "), res.Tail)
				}
			})
		}
	})
}

func newEnv(t *testing.T) *vmrun.Env {
	env, err := vmrun.NewEnv(repoRoot(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestScenarios boots tests/scenarios/* (or $SCENARIOS/*).
func TestScenarios(t *testing.T) {
	enabled(t)
	dir := os.Getenv("SCENARIOS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "tests", "scenarios")
	}
	scs := loadScenarios(t, dir)
	if len(scs) == 0 {
		t.Skip("no scenarios selected")
	}
	runAll(t, newEnv(t), scs)
}

// TestHarnessSelfTest checks the harness itself — kernel, initramfs, slirp, guestfwd proxy,
// mock IMDS, QMP power button — with a busybox shell script as PID 1 instead of bootplan
// (testdata/selftest). It does not test bootplan.
func TestHarnessSelfTest(t *testing.T) {
	enabled(t)
	if s := os.Getenv("SCENARIO"); s != "" && s != "harness-selftest" {
		t.Skip("SCENARIO selects other scenarios")
	}
	scs, err := vmrun.LoadAll(filepath.Join(repoRoot(t), "tests", "vm", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, newEnv(t), scs)
}
