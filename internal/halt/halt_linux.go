package halt

import "golang.org/x/sys/unix"

func init() {
	syncFS = unix.Sync
	rebootSys = func(a Action) error {
		cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
		if a == RebootAction {
			cmd = unix.LINUX_REBOOT_CMD_RESTART
		}
		return unix.Reboot(cmd)
	}
}
