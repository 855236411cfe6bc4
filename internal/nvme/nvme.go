// Package nvme reads the names EC2 gives its NVMe devices.
//
// On Nitro instances EBS volumes and instance-store disks are NVMe controllers; the name the
// user asked for (/dev/sdf, xvdb, ephemeral0) is not a kernel name but sits in the
// vendor-specific area of the Identify Controller data. ParseIdentify and EBSName read it
// (pure, tested on byte fixtures); Identify (nvme_linux.go) asks the controller through the
// NVMe admin ioctl.
//
// Where the vendor area is empty (QEMU's NVMe, which plays EBS in the VM tests), the serial
// can still carry the volume id (vol0123456789abcdef0); VolumeID turns it into
// vol-0123456789abcdef0 for an EC2 DescribeVolumes lookup of the attachment device.
package nvme

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// IdentifySize is the length of Identify Controller data.
const IdentifySize = 4096

// AmazonVID is the PCI vendor id of Amazon's NVMe controllers.
const AmazonVID = 0x1D0F

// Models of Amazon controllers that carry a device name.
const (
	ModelEBS           = "Amazon Elastic Block Store"
	ModelInstanceStore = "Amazon EC2 NVMe Instance Storage"
)

// Controller is the part of Identify Controller data this package uses.
type Controller struct {
	VID      uint16 // PCI vendor id (bytes 0–1)
	SSVID    uint16 // PCI subsystem vendor id (bytes 2–3)
	Serial   string // bytes 4–23, trimmed
	Model    string // bytes 24–63, trimmed
	Firmware string // bytes 64–71, trimmed
	// VendorName is Amazon's vendor-specific "bdev" field (bytes 3072–3103) up to the first NUL
	// or space: "sdf", "/dev/xvdb", "ephemeral0:sdb". Empty on non-Amazon controllers.
	VendorName string
}

// ParseIdentify decodes Identify Controller data (CNS 1).
func ParseIdentify(b []byte) (Controller, error) {
	if len(b) < IdentifySize {
		return Controller{}, fmt.Errorf("nvme identify data is %d bytes, want %d", len(b), IdentifySize)
	}
	c := Controller{
		VID:      binary.LittleEndian.Uint16(b[0:]),
		SSVID:    binary.LittleEndian.Uint16(b[2:]),
		Serial:   trim(b[4:24]),
		Model:    trim(b[24:64]),
		Firmware: trim(b[64:72]),
	}
	v := b[3072:3104]
	if i := bytes.IndexAny(v, "\x00 "); i >= 0 {
		v = v[:i]
	}
	c.VendorName = string(v)
	return c, nil
}

func trim(b []byte) string { return strings.TrimRight(string(b), " \x00") }

// IsAmazon reports whether c is an Amazon EBS or instance-store controller.
func (c Controller) IsAmazon() bool {
	return c.VID == AmazonVID && (c.Model == ModelEBS || c.Model == ModelInstanceStore)
}

// EBSName returns the device name EC2 recorded for an Amazon controller, without "/dev/":
// "sdf" for "sdf" or "/dev/sdf", "sdb" for "ephemeral0:sdb", "ephemeral0" for
// "ephemeral0:none". ok is false for other controllers and when no name is recorded.
func EBSName(c Controller) (name string, ok bool) {
	if !c.IsAmazon() {
		return "", false
	}
	f1, f2, hasColon := strings.Cut(c.VendorName, ":")
	f1 = strings.TrimPrefix(f1, "/dev/")
	f2 = strings.TrimPrefix(f2, "/dev/")
	if f1 == "" {
		return "", false
	}
	if hasColon && f2 != "" && f2 != "none" {
		name = f2
	} else {
		name = f1
	}
	if !validName(name) {
		return "", false
	}
	return name, true
}

// validName refuses names that would leave /dev or hide in it.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ValidName reports whether s can be used as a link name under /dev (a single path element of
// letters, digits, '-', '_' or '.').
func ValidName(s string) bool { return validName(s) }

// LinkName is the name of partition n (n > 0) of the device called name: "sdf1", or "nvme0n1p1"
// style "p<N>" when name ends in a digit. n = 0 returns name itself.
func LinkName(name string, partition int) string {
	if partition <= 0 {
		return name
	}
	if name != "" && name[len(name)-1] >= '0' && name[len(name)-1] <= '9' {
		return name + "p" + strconv.Itoa(partition)
	}
	return name + strconv.Itoa(partition)
}

// VolumeID returns the EBS volume id a controller serial carries ("vol0123456789abcdef0" →
// "vol-0123456789abcdef0"; an id with its dash is returned as is). ok is false when the serial
// is not a volume id.
func VolumeID(serial string) (id string, ok bool) {
	rest, found := strings.CutPrefix(serial, "vol")
	if !found {
		return "", false
	}
	rest = strings.TrimPrefix(rest, "-")
	if len(rest) != 8 && len(rest) != 17 {
		return "", false
	}
	for _, r := range rest {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", false
		}
	}
	return "vol-" + rest, true
}
