package stage1

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one early mount: mkdir -p Target with Mode, then mount(2).
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Mode                   os.FileMode
	// Optional marks mounts the reference system did not make (/run, /tmp): they are skipped
	// when the image has a symlink there, and a failure is a warning, not a boot failure.
	Optional bool
}

// EarlyMounts is the table of §1.2 of the easyto reference, in order, plus /run and /tmp.
var EarlyMounts = []Mount{
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Mode: 0o755},
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOATIME | unix.MS_NOEXEC | unix.MS_NOSUID,
		Data: "mode=0620,gid=5,ptmxmode=666", Mode: 0o755},
	{Source: "mqueue", Target: "/dev/mqueue", FSType: "mqueue", Flags: unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOSUID, Mode: 0o755},
	{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: unix.MS_NODEV | unix.MS_NOSUID, Data: "mode=1777", Mode: os.ModeSticky | 0o777},
	{Source: "hugetlbfs", Target: "/dev/hugepages", FSType: "hugetlbfs", Flags: unix.MS_RELATIME, Mode: 0o755},
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME | unix.MS_NOSUID, Mode: 0o555},
	{Source: "sys", Target: "/sys", FSType: "sysfs", Flags: unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOSUID, Mode: 0o555},
	{Source: "tmpfs", Target: "/.easyto/run", FSType: "tmpfs", Flags: unix.MS_NODEV | unix.MS_NOSUID, Data: "mode=0755", Mode: 0o755},
	{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME | unix.MS_NOSUID,
		Data: "nsdelegate", Mode: 0o555},
	{Source: "debugfs", Target: "/sys/kernel/debug", FSType: "debugfs", Flags: unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME | unix.MS_NOSUID,
		Mode: 0o500},
	{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NODEV | unix.MS_NOSUID, Data: "mode=0755", Mode: 0o755, Optional: true},
	{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NODEV | unix.MS_NOSUID, Data: "mode=1777", Mode: os.ModeSticky | 0o777, Optional: true},
}

// Symlink is one link made after the mounts; an existing path is left alone.
type Symlink struct{ Target, Link string }

// EarlySymlinks are the standard /dev links.
var EarlySymlinks = []Symlink{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// IsMountPoint reports whether target appears as a mount point in a /proc/self/mountinfo text.
func IsMountPoint(mountinfo, target string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeOctal(f[4]) == target {
			return true
		}
	}
	return false
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			b = append(b, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }
