//go:build !validateonly

package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
	"github.com/bootplan/bootplan/stage2/supervise"
)

func init() {
	register(command{name: "stage2", summary: "stage two of the boot, as PID 1 (run the plan, supervise the command, power off)",
		args: "[-plan FILE]", raw: runStage2})
}

// runStage2 is PID 1 after stage one's execve. As PID 1 it never returns: every path ends in a
// power-off (or reboot). Run by hand it refuses, so a developer's machine is never touched.
func runStage2(args []string) int {
	fs := flag.NewFlagSet("stage2", flag.ContinueOnError)
	planPath := fs.String("plan", plan.PlanPath, "the plan to execute")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "bootplan stage2: must run as PID 1 (it powers the machine off when done); use `bootplan replay` to try a plan")
		return 2
	}
	supervise.Main(supervise.MainOptions{PlanPath: *planPath, Execute: stage2.Execute})
	return 1 // not reached
}
