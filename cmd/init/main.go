// Command init is bootplan's stage one, installed as /.easyto/sbin/init and started by the
// kernel as PID 1. It never returns: it execs stage two, or prints the failure banner and
// powers the machine off (BOOTPLAN_ON_FAILURE=reboot on the kernel command line reboots).
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/halt"
	"github.com/bootplan/bootplan/internal/version"
	"github.com/bootplan/bootplan/stage1"
)

// anyPIDEnv lets stage one run as a process other than PID 1 (a PID namespace test does not
// need it; a developer's shell is protected by default: stage one mounts and configures the
// network of whatever machine it runs on).
const anyPIDEnv = "BOOTPLAN_STAGE1_ANY_PID"

func main() {
	if os.Getpid() != 1 && os.Getenv(anyPIDEnv) == "" {
		fmt.Fprintf(os.Stderr, "bootplan stage1 (init) %s must run as PID 1 (set %s=1 to override)\n", version.String(), anyPIDEnv)
		os.Exit(2)
	}
	defer func() {
		if r := recover(); r != nil {
			console.Debugf("%s", debug.Stack())
			halt.Fail(console.Failure{Stage: "stage1", Step: "panic", Err: fmt.Errorf("panic: %v", r)})
		}
	}()
	err := stage1.Run(stage1.Config{Version: version.String()})
	var f *stage1.Failure
	if errors.As(err, &f) {
		halt.Fail(f.Failure)
	}
	if err == nil {
		err = errors.New("stage one returned without exec'ing stage two")
	}
	halt.Fail(console.Failure{Stage: "stage1", Step: "exec", Err: err})
}
