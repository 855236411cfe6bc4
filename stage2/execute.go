package stage2

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
)

// Execute runs stage two's sequence against rt.Host, writes the boot report
// (/.easyto/run/report.toml, through the Host, also on failure) and returns the ready command.
// With replace-init the command is exec'd here (the real host never returns on success; the
// sandbox records it). On error the caller ends the boot (halt.Fail) with the error as is.
func Execute(ctx context.Context, rt *Runtime) (Cmd, error) {
	if rt == nil || rt.Plan == nil || rt.Host == nil {
		return Cmd{}, errors.New("stage two: runtime needs a plan and a host")
	}
	if rt.AWS == nil {
		rt.AWS = NewAWS(rt.IMDS)
	}
	started := time.Now()
	results, err := graph.Run(ctx, Sequence(rt), rt.graphOptions().WithConsole())
	if results != nil {
		if werr := rt.writeReport(NewReport(started, results, err)); werr != nil {
			console.Warnf("unable to write the boot report: %v", werr)
		}
	}
	if err != nil {
		return Cmd{}, err
	}
	console.Infof("stage two completed in %s", console.Duration(time.Since(started)))
	cmd := rt.cmd
	if rt.Plan.Command.ReplaceInit {
		// The readonly-root step already remounted / when asked.
		if err := ReplaceInit(rt, cmd, false); err != nil {
			return Cmd{}, err
		}
	}
	return cmd, nil
}

// graphOptions: once ctx ends (a shutdown request), the running steps get the plan's
// shutdown grace period, then are abandoned: a step blocked in a syscall (a FIFO, a hung
// mount, a failing disk, a child in uninterruptible sleep) must not keep the machine from
// shutting down. Their children are killed by the shutdown that follows.
func (rt *Runtime) graphOptions() graph.Options {
	return graph.Options{Abandon: true, AbandonGrace: ShutdownGrace(rt.Plan)}
}

// ShutdownGrace is the plan's shutdown grace period (0 allowed: SIGKILL right after SIGTERM).
func ShutdownGrace(p *plan.Plan) time.Duration {
	return time.Duration(max(p.Command.ShutdownGrace, 0)) * time.Second
}

func (rt *Runtime) writeReport(r Report) error {
	b, err := r.Encode()
	if err != nil {
		return err
	}
	if _, err := rt.Host.MkdirAll(plan.RunDir, 0o755); err != nil {
		return err
	}
	return rt.Host.WriteFileAtomic(plan.ReportPath, b, 0o644, -1, -1)
}

func isSkip(err error) bool { return errors.Is(err, graph.ErrSkip) }

func logEnvFromFailure() { console.Errorf("%s", EnvFromFailure) }

// logEnvNames prints the environment's names (never values) at debug level.
func logEnvNames(env []plan.EnvVar) {
	if !console.DebugEnabled() {
		return
	}
	names := make([]string, len(env))
	for i, e := range env {
		names[i] = e.Name
	}
	sort.Strings(names)
	console.Debugf("environment: %s", strings.Join(names, ", "))
}
