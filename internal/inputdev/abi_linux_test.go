//go:build linux

package inputdev

import "testing"

// The power-button finder's ioctl, checked on every architecture the tests run on (make
// unit-arm64 runs them on arm64 under qemu-aarch64-static).
func TestEVIOCGNAME(t *testing.T) {
	// EVIOCGNAME(256) from <linux/input.h> with the asm-generic _IOC encoding.
	if got := eviocgname(256); got != 0x81004506 {
		t.Errorf("EVIOCGNAME(256) = %#x, want 0x81004506", got)
	}
}
