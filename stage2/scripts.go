package stage2

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
)

// EnvStrings renders env as NAME=VALUE entries.
func EnvStrings(env []plan.EnvVar) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i] = e.Name + "=" + e.Value
	}
	return out
}

// DescribeExit renders how a process ended: "exited 3", "killed by SIGKILL".
func DescribeExit(st ExitStatus) string {
	if st.Exited {
		return fmt.Sprintf("exited %d", st.Code)
	}
	name := unix.SignalName(st.Signal)
	if name == "" {
		name = fmt.Sprintf("signal %d", int(st.Signal))
	}
	return "killed by " + name
}

// errnoText is the errno's description with a capital letter, as C's strerror prints it
// ("No such file or directory").
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			s = string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	return err.Error()
}

// RunInitScripts runs the plan's init scripts in order: each is written to
// /.easyto/run/init-<i> (0700), run with the resolved environment only, cwd /, and removed
// afterwards. A failure names the index and the exit status or signal.
func (rt *Runtime) RunInitScripts(ctx context.Context) error {
	if len(rt.Plan.InitScripts) == 0 {
		return graph.ErrSkip
	}
	env := EnvStrings(rt.Env)
	created, err := rt.Host.MkdirAll(plan.RunDir, 0o755)
	if err != nil {
		return fmt.Errorf("init scripts: %w", err)
	}
	_ = created // root-owned; nothing to chown
	for i, s := range rt.Plan.InitScripts {
		p := fmt.Sprintf("%s/init-%d", plan.RunDir, i)
		if err := rt.Host.WriteFileAtomic(p, []byte(s.Content), 0o700, 0, 0); err != nil {
			return fmt.Errorf("init script %d: %w", i, err)
		}
		console.Infof("running init script %d", i)
		st, err := rt.Host.Run(ctx, Cmd{Name: fmt.Sprintf("init-script-%d", i), Path: p, Args: []string{p}, Env: env, Dir: "/"})
		if rerr := rt.Host.Remove(p); rerr != nil {
			console.Warnf("unable to remove init script %d: %v", i, rerr)
		}
		if err != nil {
			console.Errorf("unable to run init script %d: %s", i, errnoText(err))
			return fmt.Errorf("init script %d: unable to run: %s", i, errnoText(err))
		}
		if !st.Exited || st.Code != 0 {
			return fmt.Errorf("init script %d failed: %s", i, DescribeExit(st))
		}
	}
	return nil
}
