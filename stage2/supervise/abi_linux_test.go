//go:build linux

package supervise

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The power-button reader's kernel ABI, checked on every architecture the tests run on
// (make unit-arm64 runs them on arm64 under qemu-aarch64-static).
func TestInputABI(t *testing.T) {
	// struct input_event: struct timeval (x/sys's per-arch Timeval), __u16 type, __u16 code,
	// __s32 value.
	if want := int(unsafe.Sizeof(unix.Timeval{})) + 8; inputEventSize != want {
		t.Errorf("inputEventSize = %d, want %d (sizeof struct input_event on this arch)", inputEventSize, want)
	}
	// EVIOCGNAME(256) from <linux/input.h> with the asm-generic _IOC encoding.
	if got := eviocgname(256); got != 0x81004506 {
		t.Errorf("EVIOCGNAME(256) = %#x, want 0x81004506", got)
	}
}
