package stage1

import (
	"strings"

	"golang.org/x/sys/unix"
)

func execStage2(path string, argv, env []string) error {
	return unix.Exec(path, argv, env)
}

// setHostnameFn is replaced in tests.
var setHostnameFn = setHostname

func setHostname(name string) error {
	// The kernel takes at most 64 bytes; an EC2 name that long keeps its first label.
	if len(name) > 64 {
		if i := strings.IndexByte(name, '.'); i > 0 && i <= 64 {
			name = name[:i]
		} else {
			name = name[:64]
		}
	}
	return unix.Sethostname([]byte(name))
}

// ensureStdio gives PID 1 a console on fds 0-2 when the kernel could not open one (the
// image had no /dev/console before /dev was mounted).
func ensureStdio() {
	if _, err := unix.FcntlInt(2, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		if _, err := unix.FcntlInt(uintptr(i), unix.F_GETFD, 0); err != nil {
			unix.Dup2(fd, i)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}
