package inputdev

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFDs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "", want: nil},
		{in: "3", want: []int{3}},
		{in: "3,4", want: []int{3, 4}},
		{in: "1023", want: []int{1023}},
		{in: "2", wantErr: "outside 3..1023"},
		{in: "0", wantErr: "outside"},
		{in: "1024", wantErr: "outside"},
		{in: "3,3", wantErr: "given twice"},
		{in: "-3", wantErr: "not a file descriptor number"},
		{in: "+3", wantErr: "not a file descriptor number"},
		{in: " 3", wantErr: "not a file descriptor number"},
		{in: "3,", wantErr: "not a file descriptor number"},
		{in: "0x3", wantErr: "not a file descriptor number"},
		{in: "99999999999999999999", wantErr: "not a file descriptor number"},
		{in: "3,4,5,6,7,8,9,10,11", wantErr: "at most 8"},
	} {
		got, err := ParseFDs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), FDsEnv) {
				t.Errorf("ParseFDs(%q) = %v, %v; want an error naming %s with %q", tc.in, got, err, FDsEnv, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFDs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if err == nil && len(got) > 0 {
			if back := FormatFDs(got); back != tc.in {
				t.Errorf("FormatFDs(%v) = %q, want %q", got, back, tc.in)
			}
		}
	}
}

func TestCheckMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    uint32
		rdev    uint64
		wantErr string
	}{
		{"evdev node", unix.S_IFCHR | 0o600, unix.Mkdev(13, 64), ""},
		{"dynamic evdev minor", unix.S_IFCHR | 0o600, unix.Mkdev(13, 300), ""},
		{"/dev/null", unix.S_IFCHR | 0o666, unix.Mkdev(1, 3), "character device 1:3"},
		{"block device of major 13", unix.S_IFBLK | 0o600, unix.Mkdev(13, 64), "not a character device"},
		{"regular file", unix.S_IFREG | 0o644, 0, "not a character device"},
		{"fifo", unix.S_IFIFO | 0o600, 0, "not a character device"},
	} {
		err := CheckMode(tc.mode, tc.rdev)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestInheritedRefuses: descriptors that are no input device are refused, left open (they may
// be something else of the process) and not returned.
func TestInheritedRefuses(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, v := range []string{FormatFDs([]int{int(r.Fd())}), FormatFDs([]int{int(null.Fd())}), "1000", "2", "x"} {
		files, errs := Inherited(v)
		if len(files) != 0 || len(errs) == 0 {
			t.Errorf("Inherited(%q) = %v, %v; want no file and an error", v, files, errs)
		}
	}
	if _, err := unix.FcntlInt(r.Fd(), unix.F_GETFD, 0); err != nil {
		t.Errorf("a refused descriptor was closed: %v", err)
	}
	if files, errs := Inherited(""); files != nil || errs != nil {
		t.Errorf("Inherited(\"\") = %v, %v; want nothing", files, errs)
	}
}

// TestFindPowerButtons runs the finder over a fake /sys/class/input and /dev/input.
func TestFindPowerButtons(t *testing.T) {
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// event0: the fixed power button; event1: a keyboard; event2: the control-method power
	// button; input0 and mouse0 are no event devices; event3 has no node and no usable sysfs.
	write(filepath.Join(sys, "event0/device/name"), "Power Button\n")
	write(filepath.Join(dev, "event0"), "")
	write(filepath.Join(sys, "event1/device/name"), "AT Translated Set 2 keyboard\n")
	write(filepath.Join(dev, "event1"), "")
	write(filepath.Join(sys, "event2/device/name"), "Power Button\n")
	write(filepath.Join(dev, "event2"), "")
	write(filepath.Join(sys, "input0/name"), "Power Button\n")
	write(filepath.Join(sys, "mouse0/device/name"), "Power Button\n")
	write(filepath.Join(sys, "event3/dev"), "not a device number\n")
	got := FindPowerButtons(sys, dev)
	want := []string{filepath.Join(dev, "event0"), filepath.Join(dev, "event2")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FindPowerButtons = %v, want %v", got, want)
	}
	if got := FindPowerButtons(filepath.Join(root, "missing"), dev); got != nil {
		t.Errorf("no sysfs: %v, want none", got)
	}
}
