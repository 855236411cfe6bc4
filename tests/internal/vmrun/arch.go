package vmrun

import (
	"fmt"
	"os"
	"slices"
)

// archSpec is everything about the guest that depends on its architecture; the image
// builder, the scenarios, the mock IMDS and moto are shared.
type archSpec struct {
	qemu    string // QEMU system emulator
	console string // kernel console device (the serial port QEMU's -serial stdio drives)
	cpu     string
	// append: kernel command-line words for this arch only.
	append string
	// machine: the -M value; "" → QEMU's default (pc), or q35 when the scenario needs
	// PCIe root ports or QMP.
	machine string
	// firmware (-bios): on arm64 UEFI, so that the guest boots with ACPI like a Graviton
	// instance and the power button (QMP system_powerdown) is the ACPI power button. Booted
	// straight from -kernel the virt machine uses a device tree whose power key is a GPIO
	// key, a driver the Debian cloud kernel does not have.
	firmware string
}

var arches = map[string]archSpec{
	// no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss
	// its ticks and panic ("IO-APIC + timer doesn't work") before init runs; cloud images
	// boot VMs with it for the same reason. x86 only (elsewhere init would get it as an
	// argument).
	"amd64": {qemu: "qemu-system-x86_64", console: "ttyS0", cpu: "max", append: "no_timer_check"},
	// pauth-impdef: QEMU's cheap pointer-authentication algorithm instead of QARMA, which
	// is very slow under TCG; the guest cannot tell the difference.
	"arm64": {qemu: "qemu-system-aarch64", console: "ttyAMA0", cpu: "max,pauth-impdef=on",
		machine: "virt", firmware: "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"},
}

// Arches are the supported guest architectures, sorted.
func Arches() []string {
	var out []string
	for a := range arches {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// ArchFromEnv returns the guest architecture chosen by BOOTPLAN_ARCH (make vm-test
// ARCH=arm64), amd64 by default.
func ArchFromEnv() string {
	if a := os.Getenv("BOOTPLAN_ARCH"); a != "" {
		return a
	}
	return "amd64"
}

func specFor(arch string) (archSpec, error) {
	s, ok := arches[arch]
	if !ok {
		return archSpec{}, fmt.Errorf("architecture %q: supported are %v", arch, Arches())
	}
	return s, nil
}

// spec is the Env's architecture; a zero Env (tests) is amd64.
func (e *Env) spec() archSpec {
	if e.arch.qemu == "" {
		return arches["amd64"]
	}
	return e.arch
}

// RunsOn reports whether the scenario runs on arch (scenario.toml arches; empty = all).
func (s *Scenario) RunsOn(arch string) bool {
	return len(s.Config.Arches) == 0 || slices.Contains(s.Config.Arches, arch)
}
