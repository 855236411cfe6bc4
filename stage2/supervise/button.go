package supervise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/kmod"
	"golang.org/x/sys/unix"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116

	// inputEventSize is sizeof(struct input_event) on 64-bit: timeval (16) + type, code (2+2)
	// + value (4).
	inputEventSize = 24
)

// InputEvent is one decoded struct input_event.
type InputEvent struct {
	Sec, Usec int64
	Type      uint16
	Code      uint16
	Value     int32
}

// ParseInputEvents decodes whole 24-byte events from b (little-endian, 64-bit layout); a
// trailing partial event is an error.
func ParseInputEvents(b []byte) ([]InputEvent, error) {
	if len(b)%inputEventSize != 0 {
		return nil, fmt.Errorf("input events: %d bytes is not a multiple of %d", len(b), inputEventSize)
	}
	out := make([]InputEvent, 0, len(b)/inputEventSize)
	for i := 0; i+inputEventSize <= len(b); i += inputEventSize {
		e := b[i : i+inputEventSize]
		out = append(out, InputEvent{
			Sec:   int64(binary.LittleEndian.Uint64(e[0:8])),
			Usec:  int64(binary.LittleEndian.Uint64(e[8:16])),
			Type:  binary.LittleEndian.Uint16(e[16:18]),
			Code:  binary.LittleEndian.Uint16(e[18:20]),
			Value: int32(binary.LittleEndian.Uint32(e[20:24])),
		})
	}
	return out, nil
}

// IsPowerPress reports a press (not release or autorepeat) of the power key.
func (e InputEvent) IsPowerPress() bool { return e.Type == evKey && e.Code == keyPower && e.Value == 1 }

// loadModules loads the named modules (and their dependencies) through the host's
// LoadModule, resolved by internal/kmod. Built-in and already loaded modules are fine.
func (s *Supervisor) loadModules(names ...string) error {
	release, err := kmod.Release()
	if err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	ix, err := kmod.Open(s.cfg.Host.ReadFile, "/", release)
	if err != nil {
		return fmt.Errorf("module index: %w", err)
	}
	var errs []error
	for _, n := range names {
		if err := ix.Load(n, "", s.cfg.Host.LoadModule); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// powerButtonName is the input device name of the ACPI power button (drivers/acpi/button.c).
const powerButtonName = "Power Button"

// findPowerButtons returns the /dev/input/event* nodes named "Power Button", creating a
// missing node from sysfs.
func findPowerButtons(sysInput, devInput string) []string {
	ents, _ := os.ReadDir(sysInput)
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "event") {
			continue
		}
		dev := filepath.Join(devInput, e.Name())
		name, err := os.ReadFile(filepath.Join(sysInput, e.Name(), "device", "name"))
		if err == nil && strings.TrimSpace(string(name)) != powerButtonName {
			continue
		}
		if _, err := os.Stat(dev); err != nil {
			mknodFromSys(filepath.Join(sysInput, e.Name(), "dev"), dev)
		}
		if err != nil { // no sysfs name: ask the device itself
			n, gerr := deviceName(dev)
			if gerr != nil || n != powerButtonName {
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
	var maj, min uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &min); err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(dev), 0o755)
	_ = unix.Mknod(dev, unix.S_IFCHR|0o600, int(unix.Mkdev(maj, min)))
}

// eviocgname is EVIOCGNAME(n) = _IOC(_IOC_READ, 'E', 0x06, n); the generic _IOC layout,
// which amd64 and arm64 share (abi_linux_test.go).
func eviocgname(n int) uintptr { return uintptr(2<<30 | n<<16 | 'E'<<8 | 0x06) }

// deviceName asks an input device its name (EVIOCGNAME).
func deviceName(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), eviocgname(len(buf)), uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return "", fmt.Errorf("EVIOCGNAME %s: %w", dev, e)
	}
	return unix.ByteSliceToString(buf), nil
}

// watchPowerButton loads button and evdev, finds the power button and triggers the shutdown
// on a press of KEY_POWER.
func (s *Supervisor) watchPowerButton() {
	if err := s.loadModules("button", "evdev"); err != nil {
		console.Warnf("power button: %v", err)
	}
	var devs []string
	deadline := time.Now().Add(5 * time.Second) // the nodes appear shortly after loading
	for {
		if devs = findPowerButtons("/sys/class/input", "/dev/input"); len(devs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			console.Warnf("power button: no input device named %q; ACPI power-off will not be seen", powerButtonName)
			return
		}
		select {
		case <-s.stopc:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, dev := range devs {
		console.Debugf("power button: watching %s", dev)
		s.goSafe("power button "+dev, func() { s.readButton(dev) })
	}
}

func (s *Supervisor) readButton(dev string) {
	f, err := os.Open(dev)
	if err != nil {
		console.Warnf("power button: %v", err)
		return
	}
	defer f.Close()
	buf := make([]byte, inputEventSize*64)
	for {
		n, err := io.ReadAtLeast(f, buf, inputEventSize)
		if err != nil {
			console.Warnf("power button: reading %s: %v", dev, err)
			return
		}
		evs, err := ParseInputEvents(buf[:n-n%inputEventSize])
		if err != nil {
			continue
		}
		for _, e := range evs {
			if e.IsPowerPress() {
				console.Infof("power button pressed")
				s.Trigger("ACPI power button")
				return
			}
		}
	}
}
