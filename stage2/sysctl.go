package stage2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/bootplan/bootplan/internal/console"
)

// ApplySysctls writes the plan's sysctls in list order (after the modules: a sysctl may exist
// only once its module is loaded).
func (rt *Runtime) ApplySysctls(ctx context.Context) error {
	for _, s := range rt.Plan.Sysctls {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := CheckSysctlName(s.Name); err != nil {
			return err
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

// CheckSysctlName refuses names that would not stay under /proc/sys: empty, with a '/', with
// an empty component (leading, trailing or doubled dots), or with spaces or control characters.
func CheckSysctlName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("sysctl %q: invalid name: %s (want dotted words, e.g. net.ipv4.ip_forward)", name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case strings.Contains(name, "/"):
		return bad("contains '/'")
	case strings.Contains(name, ".."), strings.HasPrefix(name, "."), strings.HasSuffix(name, "."):
		return bad("empty component")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return bad("contains a space or control character")
		}
	}
	return nil
}
