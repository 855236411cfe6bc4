package uevent

import (
	"strings"
	"testing"
)

// FuzzParse: Parse never panics on a netlink message, and an event it accepts names a device
// node inside /dev (no "..", not absolute) with a partition number ≥ 0.
func FuzzParse(f *testing.F) {
	f.Add([]byte("add@/devices/pci0000:00/0000:00:04.0/nvme/nvme1/nvme1n1\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:04.0/nvme/nvme1/nvme1n1\x00SUBSYSTEM=block\x00MAJOR=259\x00MINOR=1\x00DEVNAME=nvme1n1\x00DEVTYPE=disk\x00SEQNUM=1234\x00"))
	f.Add([]byte("add@/devices/x/nvme1n1/nvme1n1p1\x00ACTION=add\x00SUBSYSTEM=block\x00DEVNAME=nvme1n1p1\x00DEVTYPE=partition\x00PARTN=1\x00"))
	f.Add([]byte("libudev\x00\xfe\xed\xca\xfe"))
	f.Add([]byte("remove@/devices/x\x00ACTION=add\x00"))
	f.Add([]byte("add@/x\x00DEVNAME=../../etc/passwd\x00PARTN=-1\x00=\x00noequals"))
	f.Add([]byte("@"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := Parse(msg)
		if err != nil {
			return
		}
		if e.Action == "" || e.DevPath == "" || e.PartN < 0 {
			t.Fatalf("accepted %+v", e)
		}
		if strings.Contains(e.DevName, "..") || strings.HasPrefix(e.DevName, "/") {
			t.Fatalf("accepted DEVNAME %q", e.DevName)
		}
		_ = e.IsBlockAdd()
	})
}
