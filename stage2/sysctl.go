package stage2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/plan"
)

// ApplySysctls writes the plan's sysctls in list order (after the modules: a sysctl may exist
// only once its module is loaded).
func (rt *Runtime) ApplySysctls(ctx context.Context) error {
	for _, s := range rt.Plan.Sysctls {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := plan.CheckSysctlName(s.Name); err != nil {
			return fmt.Errorf("sysctl %q: %w", s.Name, err)
		}
		if err := rt.Host.WriteSysctl(s.Name, s.Value); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w (no such sysctl in this kernel: does it need a module listed under modules?)", err)
			}
			return err
		}
		console.Infof("sysctl %s = %s", s.Name, s.Value)
	}
	return nil
}
