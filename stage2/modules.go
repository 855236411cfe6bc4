package stage2

import (
	"context"
	"fmt"
	"strings"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/kmod"
)

// LoadModules loads the plan's kernel modules in list order, each after its dependencies
// (modules.dep), from /lib/modules/<running release>. A name may be an alias (modules.alias).
// Built-in and already loaded modules are success; parameters apply to the named module only.
func (rt *Runtime) LoadModules(ctx context.Context) error {
	if len(rt.Plan.Modules) == 0 {
		return nil
	}
	var ix *kmod.Index
	for _, m := range rt.Plan.Modules {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.Name == "" || strings.ContainsAny(m.Name, "/\x00") || strings.HasPrefix(m.Name, ".") {
			return fmt.Errorf("module %q: invalid name (want a module name such as br_netfilter)", m.Name)
		}
		if _, err := rt.Host.Stat("/sys/module/" + kmod.Normalize(m.Name)); err == nil {
			console.Infof("module %s: already loaded", m.Name)
			warnIgnoredParams(m.Name, m.Params, "it is already loaded (or built in)")
			continue
		}
		if ix == nil {
			release, err := KernelRelease(rt.Host)
			if err != nil {
				return fmt.Errorf("module %s: %w", m.Name, err)
			}
			if ix, err = kmod.Open(rt.Host.ReadFile, "/", release); err != nil {
				return fmt.Errorf("module %s: %w", m.Name, err)
			}
		}
		files, builtin, err := ix.Resolve(m.Name)
		if err != nil {
			return err
		}
		if builtin {
			console.Infof("module %s: built into the kernel", m.Name)
			warnIgnoredParams(m.Name, m.Params, "it is built into the kernel")
			continue
		}
		params := strings.Join(m.Params, " ")
		for i, f := range files {
			p := ""
			if i == len(files)-1 {
				p = params
			}
			if err := rt.Host.LoadModule(f, p); err != nil {
				return fmt.Errorf("module %s: %w", m.Name, err)
			}
		}
		console.Infof("module %s loaded (%d file(s))", m.Name, len(files))
	}
	return nil
}

// warnIgnoredParams says that a module that is not loaded now does not get its parameters:
// they apply only when finit_module loads it (a built-in module's come from the kernel
// command line as <module>.<param>=<value>).
func warnIgnoredParams(name string, params []string, why string) {
	if len(params) == 0 {
		return
	}
	console.Warnf("module %s: parameters %s ignored: %s (parameters apply only when the module is loaded; use the kernel command line as %s.<param>=<value>)",
		name, strings.Join(params, " "), why, kmod.Normalize(name))
}

// KernelRelease is the running kernel's release as the host sees it
// (/proc/sys/kernel/osrelease, else uname).
func KernelRelease(h Host) (string, error) {
	if b, err := h.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	}
	r, err := kmod.Release()
	if err != nil {
		return "", fmt.Errorf("kernel release: %w", err)
	}
	return r, nil
}
