package stage1

import (
	"fmt"
	"os"
	"strings"

	"github.com/bootplan/bootplan/internal/console"
)

// ProtectSysctls are set as soon as /proc is mounted. The workload is untrusted towards PID 1,
// and PID 1 writes files in directories the workload may own (an S3 volume's tree); these make
// the kernel refuse the classic planted-link tricks there (hard links to files the linker does
// not own, following another user's symlink, FIFO or regular file in a sticky directory).
// Many kernels (upstream's defaults, custom AMI kernels) leave them 0. PID 1's own writer does
// not rely on them. A user's `sysctls` entries are applied later, in stage two, so they win.
var ProtectSysctls = []struct{ Name, Value string }{
	{"fs.protected_hardlinks", "1"},
	{"fs.protected_symlinks", "1"},
	{"fs.protected_fifos", "1"},
	{"fs.protected_regular", "2"},
}

// writeSysctl writes one sysctl (a seam for tests).
var writeSysctl = func(name, value string) error {
	f, err := os.OpenFile("/proc/sys/"+strings.ReplaceAll(name, ".", "/"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// protectLinks sets ProtectSysctls and says so in one line. A kernel without one of them
// (protected_fifos and protected_regular came in Linux 4.19) gets a warning, not a failure.
func protectLinks() {
	var set, failed []string
	for _, s := range ProtectSysctls {
		if err := writeSysctl(s.Name, s.Value); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", s.Name, err))
			continue
		}
		set = append(set, s.Name+"="+s.Value)
	}
	if len(set) > 0 {
		console.Infof("link protection: %s (user data sysctls applied later win)", strings.Join(set, " "))
	}
	if len(failed) > 0 {
		console.Warnf("link protection: could not set %s", strings.Join(failed, ", "))
	}
}
