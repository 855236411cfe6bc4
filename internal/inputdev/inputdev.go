// Package inputdev finds the ACPI power button's input event device and hands its open file
// from stage one to stage two across execve, so that a press during the boot waits in the
// evdev queue instead of being lost.
package inputdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PowerButtonName is the input device name of the ACPI power button (drivers/acpi/button.c).
const PowerButtonName = "Power Button"

// FDsEnv names the environment variable through which stage one tells stage two which of its
// inherited file descriptors are open power button devices: decimal numbers, comma-separated.
const FDsEnv = "BOOTPLAN_POWER_BUTTON_FDS"

// inputMajor is INPUT_MAJOR (include/uapi/linux/major.h): every evdev node has it.
const inputMajor = 13

// maxFDs bounds the list: a machine has one or two power buttons (fixed and control method).
const maxFDs = 8

// FindPowerButtons returns the devInput/event* nodes whose sysfs name (under sysInput, as
// /sys/class/input) is "Power Button", creating a missing node from sysfs. An event device
// without a sysfs name is asked its name itself (EVIOCGNAME).
func FindPowerButtons(sysInput, devInput string) []string {
	ents, _ := os.ReadDir(sysInput)
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "event") {
			continue
		}
		dev := filepath.Join(devInput, e.Name())
		name, err := os.ReadFile(filepath.Join(sysInput, e.Name(), "device", "name"))
		if err == nil && strings.TrimSpace(string(name)) != PowerButtonName {
			continue
		}
		if _, err := os.Stat(dev); err != nil {
			mknodFromSys(filepath.Join(sysInput, e.Name(), "dev"), dev)
		}
		if err != nil { // no sysfs name: ask the device itself
			n, gerr := DeviceName(dev)
			if gerr != nil || n != PowerButtonName {
				continue
			}
		}
		out = append(out, dev)
	}
	return out
}

func mknodFromSys(sysDev, dev string) {
	b, err := os.ReadFile(sysDev)
	if err != nil {
		return
	}
	// "MAJ:MIN"; parsed by hand: fmt's scanner would cost stage one's binary tens of KB
	ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	maj, err1 := strconv.ParseUint(ma, 10, 32)
	min, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(dev), 0o755)
	_ = unix.Mknod(dev, unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(maj), uint32(min))))
}

// eviocgname is EVIOCGNAME(n) = _IOC(_IOC_READ, 'E', 0x06, n); the generic _IOC layout,
// which amd64 and arm64 share (abi_linux_test.go).
func eviocgname(n int) uintptr { return uintptr(2<<30 | n<<16 | 'E'<<8 | 0x06) }

// DeviceName asks an input device its name (EVIOCGNAME).
func DeviceName(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	req := eviocgname(len(buf))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return "", fmt.Errorf("EVIOCGNAME %s: %w", dev, e)
	}
	return unix.ByteSliceToString(buf), nil
}

// FormatFDs is the FDsEnv value for fds.
func FormatFDs(fds []int) string {
	s := make([]string, len(fds))
	for i, fd := range fds {
		s[i] = strconv.Itoa(fd)
	}
	return strings.Join(s, ",")
}

// ParseFDs reads an FDsEnv value: up to 8 distinct decimal descriptors above 2 (0-2 are
// stdio) and below 1024. Anything else is refused whole: the value comes from the
// environment, and a wrong number would make stage two read (or close) a file that is not
// a power button.
func ParseFDs(v string) ([]int, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxFDs {
		return nil, fmt.Errorf("%s: %d descriptors, at most %d", FDsEnv, len(parts), maxFDs)
	}
	seen := map[int]bool{}
	fds := make([]int, 0, len(parts))
	for _, p := range parts {
		if p == "" || len(p) > 4 || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("%s: %q is not a file descriptor number", FDsEnv, p)
		}
		fd, _ := strconv.Atoi(p)
		if fd < 3 || fd > 1023 {
			return nil, fmt.Errorf("%s: descriptor %d is outside 3..1023", FDsEnv, fd)
		}
		if seen[fd] {
			return nil, fmt.Errorf("%s: descriptor %d given twice", FDsEnv, fd)
		}
		seen[fd] = true
		fds = append(fds, fd)
	}
	return fds, nil
}

// errNotInput is returned by CheckMode for a descriptor that is not an input device.
var errNotInput = errors.New("not an input device")

// CheckMode accepts the fstat mode and rdev of an open input device node: a character device
// of the input major.
func CheckMode(mode uint32, rdev uint64) error {
	if mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("%w (not a character device)", errNotInput)
	}
	if maj := unix.Major(rdev); maj != inputMajor {
		return fmt.Errorf("%w (character device %d:%d, input is major %d)", errNotInput, maj, unix.Minor(rdev), inputMajor)
	}
	return nil
}

// CheckFD accepts fd when it is open on an input device node.
func CheckFD(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("descriptor %d: %w", fd, err)
	}
	if err := CheckMode(st.Mode, uint64(st.Rdev)); err != nil {
		return fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return nil
}

// Inherited takes the power button descriptors named by the FDsEnv value v: each is checked
// (CheckFD), made close-on-exec (no child may inherit it) and non-blocking (reads go through
// the runtime's poller), and returned as a file. A refused value or descriptor is an error
// in errs and is not used (an unusable descriptor is left alone: it may be something else).
func Inherited(v string) (files []*os.File, errs []error) {
	fds, err := ParseFDs(v)
	if err != nil {
		return nil, []error{err}
	}
	for _, fd := range fds {
		if err := CheckFD(fd); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", FDsEnv, err))
			continue
		}
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil { // a blocking one would hang the drain
			errs = append(errs, fmt.Errorf("%s: descriptor %d: %w", FDsEnv, fd, err))
			continue
		}
		files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("power button (fd %d)", fd)))
	}
	return files, errs
}
