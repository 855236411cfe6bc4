package stage1

import (
	"github.com/bootplan/bootplan/internal/console"
	"golang.org/x/sys/unix"
)

// rebootSyscall is reboot(2) (a seam for tests).
var rebootSyscall = unix.Reboot

// disableCtrlAltDel asks the kernel to send SIGINT to PID 1 on Ctrl-Alt-Del instead of
// rebooting at once without sync or unmount; stage two (which keeps this setting across the
// exec) treats SIGINT as a clean shutdown request. A failure only costs that: a warning.
func disableCtrlAltDel() {
	if err := rebootSyscall(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		console.Warnf("ctrl-alt-del still reboots at once (reboot CAD_OFF: %v)", err)
	}
}
