//go:build linux

package nvme

import (
	"testing"
	"unsafe"
)

func TestPassthruSize(t *testing.T) {
	if n := unsafe.Sizeof(passthruCmd{}); n != 72 {
		t.Fatalf("nvme_passthru_cmd is %d bytes, want 72", n)
	}
	if ioctlAdminCmd != 0xC0484E41 {
		t.Fatalf("NVME_IOCTL_ADMIN_CMD = %#x, want 0xc0484e41", ioctlAdminCmd)
	}
}
