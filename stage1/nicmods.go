package stage1

import "strings"

// Device is one device on a bus as sysfs shows it.
type Device struct {
	Class    string // PCI class ("0x020000"); "" on the virtio bus
	Modalias string // "pci:v00001AF4d00001000sv...", "virtio:d00000001v00001AF4"
}

// NICModaliases returns the modaliases of the network devices among devs: PCI network
// controllers (class 0x02xxxx) and virtio network devices (virtio device id 1). Loading the
// modules that match them binds the NIC drivers, as udev's coldplug would.
func NICModaliases(devs []Device) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range devs {
		a := strings.TrimSpace(d.Modalias)
		ok := false
		switch {
		case strings.HasPrefix(a, "pci:"):
			ok = strings.HasPrefix(strings.TrimSpace(d.Class), "0x02")
		case strings.HasPrefix(a, "virtio:"):
			ok = strings.HasPrefix(a, "virtio:d00000001v")
		}
		if ok && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// NetworkDeviceCount is the number of PCI network controllers (class 0x02xxxx) among devs:
// how many interfaces to expect once their drivers are bound.
func NetworkDeviceCount(devs []Device) int {
	n := 0
	for _, d := range devs {
		if strings.HasPrefix(strings.TrimSpace(d.Modalias), "pci:") && strings.HasPrefix(strings.TrimSpace(d.Class), "0x02") {
			n++
		}
	}
	return n
}
