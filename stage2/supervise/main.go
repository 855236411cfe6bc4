package supervise

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/halt"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
)

// MainOptions configures Main.
type MainOptions struct {
	PlanPath string // default plan.PlanPath
	// Execute runs the plan's steps and returns the ready main command (stage2.Execute). It
	// does replace-init itself and then never returns.
	Execute func(ctx context.Context, rt *stage2.Runtime) (stage2.Cmd, error)
}

// stepNamer is implemented by errors that know which step failed.
type stepNamer interface{ StepName() string }

// Main is stage two as PID 1: catch signals, start the reaper, load the plan, run its steps,
// supervise the command, shut down, power off (or reboot when the plan's command.reboot is
// set). It never returns: every path, panics included, ends in halt (power-off or reboot).
func Main(o MainOptions) {
	sigs := CatchSignals() // first: nothing sent to PID 1 from now on is lost
	r := reaper.New()
	host := stage2.NewLinuxHost(r)
	if o.PlanPath == "" {
		o.PlanPath = plan.PlanPath
	}
	var sup *Supervisor
	fail := func(step string, err error) {
		f := console.Failure{Stage: "stage2", Step: step, Err: err, Plan: o.PlanPath, UserData: plan.UserDataPath}
		if sup != nil {
			sup.FailAndPowerOff(f)
		}
		halt.Fail(f)
	}
	defer func() {
		if p := recover(); p != nil {
			console.Errorf("stage2 panicked: %v\n%s", p, debug.Stack())
			fail("stage2", fmt.Errorf("panic: %v", p))
		}
		halt.PowerOff() // unreachable unless a hook returned: PID 1 must never exit
	}()
	console.Infof("bootplan stage2 started")

	p, err := plan.ReadFile(o.PlanPath)
	if err != nil {
		fail("plan", fmt.Errorf("reading the plan: %w", err))
	}
	console.SetDebug(p.Debug)
	var im *imds.Client
	if p.Network.IMDSEndpoint != "" {
		im = imds.New(p.Network.IMDSEndpoint)
	} else {
		im = imds.FromEnv()
	}
	if o.Execute == nil {
		fail("stage2", errors.New("no step executor"))
	}
	sup = New(mainConfig(p, host, r, sigs, im))
	// The monitors watch during the steps too: a power button press or a spot notice at boot
	// cancels the steps and shuts down.
	sup.StartMonitors()
	rt := &stage2.Runtime{Plan: p, Host: host, IMDS: im, AWS: stage2.NewAWS(im)}
	sup.Boot(o.Execute, rt, fail)
}

// Boot runs the plan's steps (execute, stage2.Execute in Main) and then supervises the ready
// command (Run). A shutdown request during the steps (a shutdown signal, the power button, a
// spot notice: anything that Triggers) cancels them; execute gives the steps still running
// the grace period and abandons them, and the shutdown gets what is left of the grace, so
// the machine powers off within the grace period plus the shutdown's own bounded phases
// even when a step is stuck for ever. fail is the failure path of a step error.
func (s *Supervisor) Boot(execute func(context.Context, *stage2.Runtime) (stage2.Cmd, error), rt *stage2.Runtime, fail func(step string, err error)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requested atomic.Int64 // when the shutdown was asked for (UnixNano)
	go func() {
		select {
		case <-s.cfg.Signals.ShutdownRequested():
		case <-s.Triggered():
		case <-ctx.Done():
			return
		}
		requested.Store(time.Now().UnixNano())
		cancel()
	}()
	start := time.Now()
	cmd, err := execute(ctx, rt)
	if at := requested.Load(); at != 0 {
		s.grace = max(s.grace-time.Since(time.Unix(0, at)), 0).Round(time.Millisecond) // the steps had the rest
		s.Shutdown(fmt.Sprintf("shutdown requested during boot (steps stopped after %dms)", time.Since(start).Milliseconds()))
		return
	}
	if err != nil {
		fail(failedStep(err), err)
		return
	}
	s.Run(cmd)
}

// mainConfig is the supervisor configuration Main runs plan p with: the power button watched,
// and a reboot instead of a power-off at the end when the plan says so (command.reboot, from
// BOOTPLAN_SHUTDOWN=reboot).
func mainConfig(p *plan.Plan, host stage2.Host, r *reaper.Reaper, sigs *Signals, im *imds.Client) Config {
	return Config{Plan: p, Host: host, Reaper: r, Signals: sigs, IMDS: im, PowerButton: true,
		Reboot: p.Command.Reboot}
}

// failedStep names the step an Execute error comes from: a StepName method (graph.StepError
// has one), else a "step <name>: ..." prefix, else "steps".
func failedStep(err error) string {
	var sn stepNamer
	if errors.As(err, &sn) {
		return sn.StepName()
	}
	if rest, ok := strings.CutPrefix(err.Error(), "step "); ok {
		if name, _, ok := strings.Cut(rest, ": "); ok && name != "" && !strings.ContainsAny(name, " \n") {
			return name
		}
	}
	return "steps"
}
