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
}
