//go:build linux

package stage2

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelABI pins the syscall numbers and ioctl layouts PID 1 depends on to the kernel's
// values for each supported architecture (arch/x86/entry/syscalls/syscall_64.tbl and
// include/uapi/asm-generic/unistd.h for arm64), so a wrong build tag or a changed dependency
// shows up in `make unit` (amd64) and `make unit-arm64` (arm64 under qemu-aarch64-static).
func TestKernelABI(t *testing.T) {
	sys := map[string]map[string]uintptr{
		"amd64": {"ioctl": 16, "reboot": 169, "finit_module": 313, "mount": 165, "pivot_root": 155},
		"arm64": {"ioctl": 29, "reboot": 142, "finit_module": 273, "mount": 40, "pivot_root": 41},
	}[runtime.GOARCH]
	if sys == nil {
		t.Fatalf("no syscall table for GOARCH=%s: add one before supporting it", runtime.GOARCH)
	}
	got := map[string]uintptr{"ioctl": unix.SYS_IOCTL, "reboot": unix.SYS_REBOOT,
		"finit_module": unix.SYS_FINIT_MODULE, "mount": unix.SYS_MOUNT, "pivot_root": unix.SYS_PIVOT_ROOT}
	for name, want := range sys {
		if got[name] != want {
			t.Errorf("SYS_%s = %d on %s, want %d", name, got[name], runtime.GOARCH, want)
		}
	}
	// BLKPG (root volume growth): _IO(0x12, 105), struct blkpg_ioctl_arg {int op; int flags;
	// int datalen; void *data} and struct blkpg_partition {long long start, length; int pno;
	// char devname[64], volname[64]} on 64-bit.
	if unix.BLKPG != 0x1269 {
		t.Errorf("BLKPG = %#x, want 0x1269", unix.BLKPG)
	}
	if n := unsafe.Sizeof(unix.BlkpgIoctlArg{}); n != 24 {
		t.Errorf("sizeof(struct blkpg_ioctl_arg) = %d, want 24", n)
	}
	if n := unsafe.Sizeof(unix.BlkpgPartition{}); n != 152 {
		t.Errorf("sizeof(struct blkpg_partition) = %d, want 152", n)
	}
	if unix.LINUX_REBOOT_CMD_POWER_OFF != 0x4321fedc || unix.LINUX_REBOOT_CMD_RESTART != 0x1234567 {
		t.Errorf("reboot commands: %#x %#x", unix.LINUX_REBOOT_CMD_POWER_OFF, unix.LINUX_REBOOT_CMD_RESTART)
	}
}
