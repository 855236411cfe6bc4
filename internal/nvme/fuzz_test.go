package nvme

import (
	"strings"
	"testing"
)

// FuzzParseIdentify: ParseIdentify, EBSName and VolumeID never panic on controller data, and
// a name they return can only ever be a single /dev entry. head is the start of the data and
// vendor the vendor-specific "bdev" area at 3072 (the rest is zero), so that short inputs
// reach every field; head alone (often too short) is parsed as is too.
func FuzzParseIdentify(f *testing.F) {
	f.Add([]byte("\x0f\x1d\x0f\x1dvol0123456789abcdef0Amazon Elastic Block Store"), []byte("sdf"))
	f.Add([]byte("\x0f\x1d\x0f\x1dAWS12345678901234567Amazon EC2 NVMe Instance Storage"), []byte("ephemeral0:sdb"))
	f.Add([]byte("\x0f\x1d\x0f\x1dvol0123456789abcdef0Amazon Elastic Block Store"), []byte("/dev/xvda\x00junk"))
	f.Add([]byte("\x36\x1b\x36\x1bvol0123456789abcdef0QEMU NVMe Ctrl"), []byte(""))
	f.Add([]byte("\x0f\x1d"), []byte("../../etc:..\x00"))
	f.Fuzz(func(t *testing.T, head, vendor []byte) {
		check := func(b []byte) {
			c, err := ParseIdentify(b)
			if err != nil {
				if len(b) >= IdentifySize {
					t.Fatalf("refused %d bytes: %v", len(b), err)
				}
				return
			}
			if name, ok := EBSName(c); ok {
				if !ValidName(name) || strings.Contains(name, "/") || name == "." || name == ".." {
					t.Fatalf("EBSName returned %q", name)
				}
				for _, p := range []int{0, 1, 15} {
					if l := LinkName(name, p); !ValidName(l) {
						t.Fatalf("LinkName(%q, %d) = %q", name, p, l)
					}
				}
			}
			if id, ok := VolumeID(c.Serial); ok && (!strings.HasPrefix(id, "vol-") || len(id) != 12 && len(id) != 21) {
				t.Fatalf("VolumeID(%q) = %q", c.Serial, id)
			}
		}
		check(head)
		b := make([]byte, IdentifySize)
		copy(b, head)
		copy(b[3072:], vendor)
		check(b)
	})
}
