package stage1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEarlyMountTable(t *testing.T) {
	want := []struct{ target, fstype string }{
		{"/dev", "devtmpfs"}, {"/dev/pts", "devpts"}, {"/dev/mqueue", "mqueue"}, {"/dev/shm", "tmpfs"},
		{"/dev/hugepages", "hugetlbfs"}, {"/proc", "proc"}, {"/sys", "sysfs"}, {"/.easyto/run", "tmpfs"},
		{"/sys/fs/cgroup", "cgroup2"}, {"/sys/kernel/debug", "debugfs"}, {"/run", "tmpfs"}, {"/tmp", "tmpfs"},
	}
	if len(EarlyMounts) != len(want) {
		t.Fatalf("%d mounts, want %d", len(EarlyMounts), len(want))
	}
	seen := map[string]bool{}
	for i, m := range EarlyMounts {
		if m.Target != want[i].target || m.FSType != want[i].fstype {
			t.Errorf("mount %d = %s %s, want %s %s", i, m.Target, m.FSType, want[i].target, want[i].fstype)
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) != m.Target {
			t.Errorf("%s: not a clean absolute path", m.Target)
		}
		// Every mount lives inside an earlier one or the root filesystem: nothing is hidden by
		// a later mount.
		for p := filepath.Dir(m.Target); p != "/"; p = filepath.Dir(p) {
			for _, later := range EarlyMounts[i+1:] {
				if later.Target == p {
					t.Errorf("%s is mounted before its parent %s", m.Target, p)
				}
			}
		}
		if seen[m.Target] {
			t.Errorf("%s mounted twice", m.Target)
		}
		seen[m.Target] = true
		if m.Mode == 0 {
			t.Errorf("%s: no mkdir mode", m.Target)
		}
		if m.FSType != "devtmpfs" && m.FSType != "hugetlbfs" && m.Flags&unix.MS_NOSUID == 0 {
			t.Errorf("%s: want nosuid", m.Target)
		}
		if m.Optional != (m.Target == "/run" || m.Target == "/tmp") {
			t.Errorf("%s: optional = %v", m.Target, m.Optional)
		}
	}
	for _, m := range EarlyMounts {
		switch m.Target {
		case "/dev/pts":
			if m.Data != "mode=0620,gid=5,ptmxmode=666" {
				t.Errorf("devpts data %q", m.Data)
			}
		case "/tmp", "/dev/shm":
			if m.Data != "mode=1777" || m.Mode != os.ModeSticky|0o777 {
				t.Errorf("%s: want world-writable sticky, got data %q mode %v", m.Target, m.Data, m.Mode)
			}
		case "/sys/fs/cgroup":
			if m.Data != "nsdelegate" {
				t.Errorf("cgroup2 data %q", m.Data)
			}
		}
	}
	for _, l := range EarlySymlinks {
		if !strings.HasPrefix(l.Link, "/dev/") {
			t.Errorf("link %s outside /dev", l.Link)
		}
	}
}

func TestIsMountPoint(t *testing.T) {
	mi := `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
40 23 0:33 / /my\040dir rw - tmpfs tmpfs rw
41 23 0:34 / /end\040 rw - tmpfs tmpfs rw
42 23 0:35 / /x\04 rw - tmpfs tmpfs rw
43 23 0:36 / /y\0 rw - tmpfs tmpfs rw
44 23 0:37 /
45 23 0:38 / /q\047 rw - tmpfs tmpfs rw
`
	for _, tc := range []struct {
		target string
		want   bool
	}{{"/proc", true}, {"/sys", true}, {"/my dir", true}, {"/tmp", false}, {"/", false},
		// An escape that ends the field; a backslash with fewer than three digits after it is
		// kept as it is; a line cut short is skipped.
		{"/end ", true}, {"/q'", true}, {`/x\04`, true}, {`/y\0`, true}, {"/x\x04", false}} {
		if got := IsMountPoint(mi, tc.target); got != tc.want {
			t.Errorf("IsMountPoint(%s) = %v", tc.target, got)
		}
	}
}

func TestNICModaliases(t *testing.T) {
	devs := []Device{
		{Class: "0x060000", Modalias: "pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00"}, // host bridge
		{Class: "0x020000", Modalias: "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"}, // virtio-net
		{Class: "0x020000", Modalias: "pci:v00001D0Fd0000EC20sv00000000sd00000000bc02sc00i00"}, // ena
		{Class: "0x010802", Modalias: "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"}, // nvme
		{Modalias: "virtio:d00000001v00001AF4"},                                                // virtio net
		{Modalias: "virtio:d00000002v00001AF4"},                                                // virtio blk
		{Class: "0x020000", Modalias: "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"}, // duplicate
	}
	got := NICModaliases(devs)
	want := []string{
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
		"pci:v00001D0Fd0000EC20sv00000000sd00000000bc02sc00i00",
		"virtio:d00000001v00001AF4",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Two identical NICs share a modalias but are two interfaces to wait for.
	if n := NetworkDeviceCount(devs); n != 3 {
		t.Fatalf("NetworkDeviceCount = %d, want 3 (virtio-net twice, ena)", n)
	}
}
