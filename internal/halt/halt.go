// Package halt is the one way a boot ends badly: print the failure banner as the last console
// lines, sync, and power the machine off (or reboot it when asked). It is shared by both
// stages. PID 1 must never exit, so every function here either ends the machine or sleeps
// forever.
package halt

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bootplan/bootplan/internal/console"
)

// OnFailureEnv names the kernel command-line variable that chooses what a failed boot does:
// "reboot" reboots; anything else (or nothing) powers off.
const OnFailureEnv = "BOOTPLAN_ON_FAILURE"

// ShutdownEnv names the kernel command-line variable that chooses what the machine does once
// the workload has stopped and the clean shutdown is done: "reboot" reboots; anything else
// (or nothing) powers off. Stage one reads it into the plan (Command.Reboot).
const ShutdownEnv = "BOOTPLAN_SHUTDOWN"

// Action is what to do with the machine at the end.
type Action int

// Actions.
const (
	PowerOffAction Action = iota
	RebootAction
)

func (a Action) String() string {
	if a == RebootAction {
		return "rebooting"
	}
	return "powering off"
}

// ActionFrom decides from the value of the variable name in the environment and from
// /proc/cmdline (either may be empty) whether to reboot or power off. The environment wins;
// the command line is the fallback for a kernel that did not pass the parameter on as
// environment. Only "reboot" (any case) reboots.
func ActionFrom(name, env, cmdline string) Action {
	v := env
	if v == "" {
		for _, f := range strings.Fields(cmdline) {
			if s, ok := strings.CutPrefix(f, name+"="); ok {
				v = strings.Trim(s, `"`)
			}
		}
	}
	if strings.EqualFold(strings.TrimSpace(v), "reboot") {
		return RebootAction
	}
	return PowerOffAction
}

// FailureAction is what a failed boot does (OnFailureEnv).
func FailureAction(env, cmdline string) Action { return ActionFrom(OnFailureEnv, env, cmdline) }

// SystemAction is ActionFrom for the variable name, read from this process's environment and
// /proc/cmdline.
func SystemAction(name string) Action {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	return ActionFrom(name, os.Getenv(name), string(cmdline))
}

func failureAction() Action { return SystemAction(OnFailureEnv) }

// Seams for tests; the real ones live in halt_linux.go.
var (
	syncFS       = func() {}
	rebootSys    = func(Action) error { return nil }
	isPID1       = func() bool { return os.Getpid() == 1 }
	exit         = os.Exit
	sleepForever = func() {
		for {
			time.Sleep(time.Hour)
		}
	}
)

// Fail prints the banner as the last console output and ends the machine: power off, or
// reboot when BOOTPLAN_ON_FAILURE=reboot. It never returns.
func Fail(f console.Failure) {
	a := failureAction()
	if f.Action == "" {
		f.Action = a.String()
	}
	console.PrintBanner(f)
	// The banner stays the last thing on the console: anything still running (an abandoned
	// step, a child's log line through our logger) is silenced from here on.
	w := console.Output()
	console.SetOutput(io.Discard)
	end(a, w)
}

// PowerOff syncs and powers the machine off. It never returns.
func PowerOff() { end(PowerOffAction, console.Output()) }

// Reboot syncs and reboots the machine. It never returns.
func Reboot() { end(RebootAction, console.Output()) }

// syncWait bounds the sync before reboot(2): a sync that hangs (a stuck disk, a frozen
// filesystem) must not keep the machine from ending; the shutdown has already synced and
// unmounted what it could.
var syncWait = 5 * time.Second

// end syncs and ends the machine; w gets the one line written if reboot(2) fails.
func end(a Action, w io.Writer) {
	synced := make(chan struct{})
	doSync := syncFS
	go func() {
		doSync()
		close(synced)
	}()
	t := time.NewTimer(syncWait)
	select {
	case <-synced:
	case <-t.C:
	}
	t.Stop()
	if !isPID1() {
		// Run by hand (a developer's shell, a test): never take the host down.
		exit(1)
		return
	}
	if err := rebootSys(a); err != nil {
		fmt.Fprintf(w, "reboot(2) failed: %v; sleeping forever (PID 1 must not exit)\n", err)
	}
	sleepForever()
}
