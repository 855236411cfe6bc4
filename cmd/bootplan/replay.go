//go:build !validateonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
)

func init() {
	register(command{name: "replay", summary: "run stage two's steps from a plan against a sandbox root directory",
		args: "PLAN --root DIR [--exec] [--timeout D]", define: defineReplay})
}

// runReplay: bootplan replay PLAN --root DIR [--exec] [--timeout D]
//
// Stage two's steps run with a SandboxHost rooted in DIR: files land under DIR, every other
// effect (mounts, modules, sysctls, processes) is recorded in the journal printed at the end,
// followed by the boot report. AWS calls are real, to whatever endpoint the environment names
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, AWS_REGION, credentials); IMDS is
// AWS_EC2_METADATA_SERVICE_ENDPOINT. With --exec, init scripts are really run (with DIR as
// their working directory, their path mapped under DIR, the plan's env only) and the command
// is started as a child; replay then exits with its exit status.
func defineReplay(fs *flag.FlagSet) func([]string) int {
	root := fs.String("root", "", "sandbox root directory (required; created if missing)")
	execute := fs.Bool("exec", false, "really run init scripts and start the command, exit with its status")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole replay (not the command)")
	return func(pos []string) int {
		if len(pos) != 1 || *root == "" {
			fs.Usage()
			return exitUsage
		}
		return replay(pos[0], *root, *execute, *timeout)
	}
}

func replay(planPath, root string, execute bool, timeout time.Duration) int {
	p, code := readPlan("replay", planPath)
	if p == nil {
		return code
	}
	if p.Debug {
		console.SetDebug(true)
	}
	host, err := stage2.NewSandboxHost(root)
	if err != nil {
		return fail(exitUsage, "replay", "%v", err)
	}
	defer host.Close()
	host.ExecRun = execute

	im := imds.FromEnv(imds.WithDeadline(15 * time.Second))
	rt := &stage2.Runtime{Plan: p, Host: host, IMDS: im, AWS: stage2.NewAWS(im)}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	cmd, runErr := stage2.Execute(tctx, rt)
	cancel()

	out := os.Stdout
	fmt.Fprintln(out, "journal:")
	fmt.Fprint(out, stage2.FormatJournal(host.Journal()))
	if b, err := host.ReadFile(plan.ReportPath); err == nil {
		if r, err := stage2.DecodeReport(b); err == nil {
			fmt.Fprint(out, r.Table())
		}
	}
	if runErr != nil {
		return fail(exitInvalid, "replay", "%v", runErr)
	}
	if !execute {
		return 0
	}
	return startReplayCommand(ctx, host.Root, cmd)
}

// startReplayCommand runs the command as a child with the sandbox root as the base of its
// path and working directory; replay is not PID 1, so os/exec is fine. No uid/gid change.
func startReplayCommand(ctx context.Context, root string, cmd stage2.Cmd) int {
	c := exec.CommandContext(ctx, filepath.Join(root, cmd.Path))
	c.Args = cmd.Args
	c.Env = cmd.Env
	c.Dir = filepath.Join(root, cmd.Dir)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 10 * time.Second
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "bootplan replay: command: %v\n", err)
		return 127
	}
}
