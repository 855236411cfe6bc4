package nvme

import (
	"encoding/binary"
	"testing"
)

// fixture builds Identify Controller data the way a controller returns it: ASCII fields padded
// with spaces, the vendor-specific bdev field padded with NULs (EBS) or spaces.
func fixture(vid uint16, serial, model, bdev string, pad byte) []byte {
	b := make([]byte, IdentifySize)
	binary.LittleEndian.PutUint16(b[0:], vid)
	binary.LittleEndian.PutUint16(b[2:], vid)
	field := func(off, n int, s string, pad byte) {
		for i := 0; i < n; i++ {
			b[off+i] = pad
		}
		copy(b[off:off+n], s)
	}
	field(4, 20, serial, ' ')
	field(24, 40, model, ' ')
	field(64, 8, "1.0", ' ')
	if bdev != "" {
		field(3072, 32, bdev, pad)
	}
	return b
}

func TestEBSName(t *testing.T) {
	cases := []struct {
		name   string
		data   []byte
		want   string
		wantOK bool
	}{
		{"EBS sdf", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, "sdf", 0), "sdf", true},
		{"EBS /dev/xvdb", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, "/dev/xvdb", 0), "xvdb", true},
		{"EBS space padded", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, "/dev/sda1", ' '), "sda1", true},
		{"instance store ephemeral0:sdb", fixture(AmazonVID, "AWS1234", ModelInstanceStore, "ephemeral0:sdb", 0), "sdb", true},
		{"instance store ephemeral0:none", fixture(AmazonVID, "AWS1234", ModelInstanceStore, "ephemeral0:none", 0), "ephemeral0", true},
		{"instance store ephemeral1:/dev/sdc", fixture(AmazonVID, "AWS1234", ModelInstanceStore, "ephemeral1:/dev/sdc", 0), "sdc", true},
		{"instance store empty field2", fixture(AmazonVID, "AWS1234", ModelInstanceStore, "ephemeral2:", 0), "ephemeral2", true},
		{"EBS no name", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, "", 0), "", false},
		{"EBS empty field1", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, ":sdb", 0), "", false},
		{"EBS name escaping /dev", fixture(AmazonVID, "vol0123456789abcdef0", ModelEBS, "/dev/../etc", 0), "", false},
		{"Amazon VID, other model", fixture(AmazonVID, "x", "Amazon Something Else", "sdf", 0), "", false},
		{"QEMU", fixture(0x1b36, "vol0123456789abcdef0", "QEMU NVMe Ctrl", "", 0), "", false},
		{"other vendor with a name", fixture(0x144d, "S4EWNX0", "Samsung SSD 970", "sdf", 0), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctrl, err := ParseIdentify(c.data)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := EBSName(ctrl)
			if got != c.want || ok != c.wantOK {
				t.Fatalf("EBSName(%+v) = %q, %v; want %q, %v", ctrl, got, ok, c.want, c.wantOK)
			}
		})
	}
}

func TestParseIdentify(t *testing.T) {
	c, err := ParseIdentify(fixture(0x1b36, "vol0123456789abcdef0", "QEMU NVMe Ctrl", "", 0))
	if err != nil {
		t.Fatal(err)
	}
	want := Controller{VID: 0x1b36, SSVID: 0x1b36, Serial: "vol0123456789abcdef0", Model: "QEMU NVMe Ctrl", Firmware: "1.0"}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c.IsAmazon() {
		t.Error("QEMU controller is not Amazon")
	}
	if _, err := ParseIdentify(make([]byte, 100)); err == nil {
		t.Error("short identify data accepted")
	}
}

func TestVolumeID(t *testing.T) {
	cases := []struct {
		serial, want string
		ok           bool
	}{
		{"vol0123456789abcdef0", "vol-0123456789abcdef0", true},
		{"vol-0123456789abcdef0", "vol-0123456789abcdef0", true},
		{"vol12345678", "vol-12345678", true},
		{"vol0123456789ABCDEF0", "", false},
		{"vol0123", "", false},
		{"AWS1234567890", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := VolumeID(c.serial)
		if got != c.want || ok != c.ok {
			t.Errorf("VolumeID(%q) = %q, %v; want %q, %v", c.serial, got, ok, c.want, c.ok)
		}
	}
}

func TestLinkName(t *testing.T) {
	cases := []struct {
		name string
		part int
		want string
	}{
		{"sdf", 0, "sdf"},
		{"sdf", 1, "sdf1"},
		{"xvdb", 12, "xvdb12"},
		{"sda1", 2, "sda1p2"},
		{"ephemeral0", 1, "ephemeral0p1"},
	}
	for _, c := range cases {
		if got := LinkName(c.name, c.part); got != c.want {
			t.Errorf("LinkName(%q, %d) = %q, want %q", c.name, c.part, got, c.want)
		}
	}
}
