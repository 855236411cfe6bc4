package stage2

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/bootplan/bootplan/plan"
)

// Sequence is stage two's boot as a list of named steps and their dependencies. The names are
// those of the console lines (`step <name>: started`) and of the boot report.
//
//	link-nvme                                  EBS NVMe device names (/dev/sdf → nvme1n1)
//	grow-root                                  grow the root partition and filesystem
//	modules                                    kernel modules
//	sysctls         after modules
//	env-from-<i>                               one per source, fetched in parallel
//	env             after every env-from       plan.ResolveEnv: env-from over image and user env, $(VAR)
//	volume-<i>      ebs: after link-nvme; files: after env; any volume after the volumes that
//	                hold its destination (a file volume on an EBS mount waits for the mount)
//	container-files after env, every volume    /etc/hosts, /etc/hostname, RLIMIT_NOFILE (parity.go)
//	init-scripts    after env, every volume, modules, sysctls, grow-root, container-files
//	home            after init-scripts            HOME of the run-as user unless set (parity.go)
//	command         after env, every volume, init-scripts, home  (PATH lookup sees their files)
//	readonly-root   after command, when the plan asks for a read-only root and replace-init
//	                (otherwise the supervisor remounts / after the services' setup: ssh keys)
func Sequence(rt *Runtime) []Step {
	p := rt.Plan
	fromSources := make([][]plan.EnvVar, len(p.EnvFrom))

	steps := []Step{
		{Name: "link-nvme", Run: rt.LinkNVMe},
		{Name: "grow-root", Run: rt.GrowRoot},
		{Name: "modules", Run: rt.LoadModules},
		{Name: "sysctls", After: []string{"modules"}, Run: rt.ApplySysctls},
	}

	var envFromNames []string
	for i, ef := range p.EnvFrom {
		name := fmt.Sprintf("env-from-%d", i)
		envFromNames = append(envFromNames, name)
		steps = append(steps, Step{Name: name, Run: func(ctx context.Context) error {
			vars, err := rt.FetchEnvFrom(ctx, i, ef)
			if err != nil {
				if !isSkip(err) {
					// Logged before the step's failure line; kept from easyto.
					logEnvFromFailure()
				}
				return err
			}
			fromSources[i] = vars
			return nil
		}})
	}
	steps = append(steps, Step{Name: "env", After: envFromNames, Run: func(ctx context.Context) error {
		var flat []plan.EnvVar
		for _, vs := range fromSources {
			flat = append(flat, vs...)
		}
		env, err := plan.ResolveEnv(p.Env, flat)
		if err != nil {
			return err
		}
		rt.Env = env
		logEnvNames(rt.Env)
		return nil
	}})

	volumeNames := make([]string, len(p.Volumes))
	for i := range p.Volumes {
		volumeNames[i] = fmt.Sprintf("volume-%d", i)
	}
	for i, v := range p.Volumes {
		name := volumeNames[i]
		var after []string
		if v.Kind == plan.KindEBS {
			after = []string{"link-nvme"}
		} else {
			after = []string{"env"}
		}
		// Whatever their order in the plan: /data must be mounted before /data/sub, or the
		// inner mount ends up hidden under the outer one.
		for k := range p.Volumes {
			if k != i && holds(p.Volumes[k].Destination, v.Destination) {
				after = append(after, volumeNames[k])
			}
		}
		steps = append(steps, Step{Name: name, After: after, Run: func(ctx context.Context) error {
			if v.Kind == plan.KindEBS {
				return rt.PrepareEBS(ctx, v)
			}
			return rt.FileVolume(ctx, i, v)
		}})
	}

	steps = append(steps, Step{Name: "container-files", After: append([]string{"env"}, volumeNames...), Run: rt.ContainerFiles})
	scriptsAfter := append([]string{"env", "modules", "sysctls", "grow-root", "container-files"}, volumeNames...)
	steps = append(steps, Step{Name: "init-scripts", After: scriptsAfter, Run: rt.RunInitScripts})

	steps = append(steps, Step{Name: "home", After: []string{"init-scripts"}, Run: rt.CommandHome})
	commandAfter := append([]string{"env", "init-scripts", "home"}, volumeNames...)
	steps = append(steps, Step{Name: "command", After: commandAfter, Run: func(ctx context.Context) error {
		cmd, err := rt.PrepareCommand()
		if err != nil {
			return err
		}
		rt.cmd = cmd
		return nil
	}})

	if p.Command.ReadonlyRoot && p.Command.ReplaceInit {
		steps = append(steps, Step{Name: "readonly-root", After: []string{"command"}, Run: func(ctx context.Context) error {
			return rt.Host.RemountRootReadonly()
		}})
	}
	return steps
}

// holds reports whether the directory outer contains inner (outer != inner).
func holds(outer, inner string) bool {
	if outer == "" || inner == "" {
		return false
	}
	outer, inner = path.Clean(outer), path.Clean(inner)
	if outer == inner {
		return false
	}
	return outer == "/" || strings.HasPrefix(inner, outer+"/")
}
