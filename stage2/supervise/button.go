package supervise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/inputdev"
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

// drainQueued reads, without blocking, the events already queued on the inherited power
// button files (pressed during stage one or before the supervisor started) and triggers the
// shutdown on a press. It runs before the steps start, so a press during the boot is acted
// on before anything of the workload runs.
func (s *Supervisor) drainQueued(files []*os.File) {
	buf := make([]byte, inputEventSize*64)
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			continue
		}
		for range 16 { // bounded: a queue holds at most a few hundred events
			n := 0
			var rerr error
			if err := rc.Read(func(fd uintptr) bool {
				n, rerr = unix.Read(int(fd), buf)
				return true // one attempt: never wait here
			}); err != nil || rerr != nil || n < inputEventSize {
				break
			}
			if pressed(buf[:n-n%inputEventSize]) {
				console.Infof("power button pressed (before stage two started)")
				s.Trigger("ACPI power button")
				return
			}
		}
	}
}

// pressed reports a power key press among the whole events in b.
func pressed(b []byte) bool {
	evs, err := ParseInputEvents(b)
	if err != nil {
		return false
	}
	for _, e := range evs {
		if e.IsPowerPress() {
			return true
		}
	}
	return false
}

// watchPowerButton triggers the shutdown on a press of KEY_POWER. It reads the power button
// devices stage one opened and handed over (Config.PowerButtonFiles); without them (replay,
// an older stage one, a machine where stage one found none) it loads button and evdev and
// finds the devices itself.
func (s *Supervisor) watchPowerButton() {
	if files := s.cfg.PowerButtonFiles; len(files) > 0 {
		for _, f := range files {
			console.Debugf("power button: watching %s from stage one", f.Name())
			s.goSafe("power button "+f.Name(), func() { s.readButton(f.Name(), f) })
		}
		return
	}
	if err := s.loadModules("button", "evdev"); err != nil {
		console.Warnf("power button: %v", err)
	}
	var devs []string
	deadline := time.Now().Add(5 * time.Second) // the nodes appear shortly after loading
	for {
		if devs = inputdev.FindPowerButtons("/sys/class/input", "/dev/input"); len(devs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			console.Warnf("power button: no input device named %q; ACPI power-off will not be seen", inputdev.PowerButtonName)
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
		s.goSafe("power button "+dev, func() {
			f, err := os.Open(dev)
			if err != nil {
				console.Warnf("power button: %v", err)
				return
			}
			defer f.Close()
			s.readButton(dev, f)
		})
	}
}

// readButton reads input events from r (the device dev) until a power key press, which
// triggers the shutdown.
func (s *Supervisor) readButton(dev string, r io.Reader) {
	buf := make([]byte, inputEventSize*64)
	for {
		n, err := io.ReadAtLeast(r, buf, inputEventSize)
		if err != nil {
			console.Warnf("power button: reading %s: %v", dev, err)
			return
		}
		if pressed(buf[:n-n%inputEventSize]) {
			console.Infof("power button pressed")
			s.Trigger("ACPI power button")
			return
		}
	}
}
