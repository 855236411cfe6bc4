package halt

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/console"
)

func TestFailureAction(t *testing.T) {
	for _, tc := range []struct {
		env, cmdline string
		want         Action
	}{
		{"", "", PowerOffAction},
		{"reboot", "", RebootAction},
		{"REBOOT", "", RebootAction},
		{"poweroff", "BOOTPLAN_ON_FAILURE=reboot", PowerOffAction},
		{"", "console=ttyS0 BOOTPLAN_ON_FAILURE=reboot quiet", RebootAction},
		{"", `BOOTPLAN_ON_FAILURE="reboot"`, RebootAction},
		{"", "BOOTPLAN_ON_FAILURE=halt", PowerOffAction},
		{"", "XBOOTPLAN_ON_FAILURE=reboot", PowerOffAction},
	} {
		if got := FailureAction(tc.env, tc.cmdline); got != tc.want {
			t.Errorf("FailureAction(%q, %q) = %v, want %v", tc.env, tc.cmdline, got, tc.want)
		}
	}
}

// One parser serves both variables: each reads only its own name.
func TestShutdownAction(t *testing.T) {
	for _, tc := range []struct {
		env, cmdline string
		want         Action
	}{
		{"", "", PowerOffAction},
		{"reboot", "", RebootAction},
		{"poweroff", "BOOTPLAN_SHUTDOWN=reboot", PowerOffAction},
		{"", "console=ttyS0 BOOTPLAN_SHUTDOWN=reboot quiet", RebootAction},
		{"", `BOOTPLAN_SHUTDOWN="Reboot"`, RebootAction},
		{"", "BOOTPLAN_ON_FAILURE=reboot", PowerOffAction},
		{"", "BOOTPLAN_SHUTDOWN=poweroff", PowerOffAction},
	} {
		if got := ActionFrom(ShutdownEnv, tc.env, tc.cmdline); got != tc.want {
			t.Errorf("ActionFrom(%s, %q, %q) = %v, want %v", ShutdownEnv, tc.env, tc.cmdline, got, tc.want)
		}
	}
	if got := FailureAction("", "BOOTPLAN_SHUTDOWN=reboot"); got != PowerOffAction {
		t.Errorf("BOOTPLAN_SHUTDOWN=reboot changed the failure action: %v", got)
	}
	t.Setenv(ShutdownEnv, "reboot")
	if got := SystemAction(ShutdownEnv); got != RebootAction {
		t.Errorf("SystemAction with %s=reboot in the environment = %v", ShutdownEnv, got)
	}
}

// fake replaces the machine: it records what was asked and returns instead of ending.
func fake(t *testing.T, pid1 bool, rebootErr error) (*bytes.Buffer, *[]string) {
	t.Helper()
	var calls []string
	var buf bytes.Buffer
	old := []any{syncFS, rebootSys, isPID1, exit, sleepForever}
	oldSince := console.Since
	syncFS = func() { calls = append(calls, "sync") }
	rebootSys = func(a Action) error { calls = append(calls, "reboot:"+a.String()); return rebootErr }
	isPID1 = func() bool { return pid1 }
	exit = func(code int) { calls = append(calls, "exit") }
	sleepForever = func() { calls = append(calls, "sleep") }
	console.SetOutput(&buf)
	console.Since = func() time.Duration { return 1500 * time.Millisecond }
	t.Setenv(OnFailureEnv, "")
	t.Cleanup(func() {
		syncFS = old[0].(func())
		rebootSys = old[1].(func(Action) error)
		isPID1 = old[2].(func() bool)
		exit = old[3].(func(int))
		sleepForever = old[4].(func())
		console.SetOutput(os.Stderr)
		console.Since = oldSince
	})
	return &buf, &calls
}

func TestFailBannerIsLastAndPowersOff(t *testing.T) {
	buf, calls := fake(t, true, nil)
	console.Infof("before")
	Fail(console.Failure{Stage: "stage1", Step: "network", Err: errors.New("no usable network interface found"),
		UserData: "/.easyto/var/lib/user-data"})
	out := buf.String()
	if !strings.Contains(out, "BOOT FAILED in stage1, step network") ||
		!strings.Contains(out, "error: no usable network interface found") ||
		!strings.Contains(out, "powering off") {
		t.Fatalf("banner missing parts:\n%s", out)
	}
	console.Infof("a late line from a goroutine still running")
	out = buf.String()
	if !strings.HasSuffix(out, strings.Repeat("=", 72)+"\n") {
		t.Fatalf("banner is not the last output:\n%s", out)
	}
	if got := strings.Join(*calls, ","); got != "sync,reboot:powering off,sleep" {
		t.Fatalf("calls = %s", got)
	}
}

func TestFailRebootWhenAsked(t *testing.T) {
	buf, calls := fake(t, true, errors.New("EPERM"))
	t.Setenv(OnFailureEnv, "reboot")
	Fail(console.Failure{Stage: "stage2", Step: "volumes", Err: errors.New("boom")})
	if !strings.Contains(buf.String(), "rebooting") {
		t.Fatalf("no rebooting in banner:\n%s", buf)
	}
	// reboot(2) failed: PID 1 sleeps forever rather than exit.
	if got := strings.Join(*calls, ","); got != "sync,reboot:rebooting,sleep" {
		t.Fatalf("calls = %s", got)
	}
	if !strings.Contains(buf.String(), "reboot(2) failed") {
		t.Fatalf("reboot failure not logged:\n%s", buf)
	}
}

func TestNotPID1NeverTouchesTheHost(t *testing.T) {
	_, calls := fake(t, false, nil)
	PowerOff()
	if got := strings.Join(*calls, ","); got != "sync,exit" {
		t.Fatalf("calls = %s", got)
	}
}

// A sync that never returns (a hung disk, a frozen filesystem) does not keep the machine
// from ending: reboot(2) is called once the bounded wait for it is over.
func TestEndDoesNotWaitForAHungSync(t *testing.T) {
	_, calls := fake(t, true, nil)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	syncFS = func() { <-block }
	old := syncWait
	syncWait = time.Millisecond
	t.Cleanup(func() { syncWait = old })
	PowerOff()
	if got := strings.Join(*calls, ","); got != "reboot:powering off,sleep" {
		t.Fatalf("calls = %s", got)
	}
}
