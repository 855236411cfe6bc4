package stage1

import (
	"context"
	"os"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/inputdev"
	"github.com/bootplan/bootplan/internal/kmod"
	"golang.org/x/sys/unix"
)

// powerButtonWait bounds the wait for the power button's event node after loading its
// modules (it appears within milliseconds; a machine without one must not slow the boot).
const powerButtonWait = 2 * time.Second

// powerButtonFDs are the power button devices the power-button step opened, handed to stage
// two across the exec (written by that step only; read by exec after every step is done).
var powerButtonFDs []int

// powerButton loads button and evdev and opens the power button's event devices, so that a
// press from now on (an EC2 stop while stage one waits for DHCP or IMDS) waits in the evdev
// queue for stage two instead of being lost. It runs beside the network steps and never fails
// the boot: without a device, stage two looks for one itself.
func (b *boot) powerButton(ctx context.Context) error {
	deadline := time.Now().Add(powerButtonWait)
	if err := loadButtonModules(); err != nil {
		// no ACPI button module: look once (the driver may be built in), never wait
		console.Warnf("power button: %v", err)
		deadline = time.Now()
	}
	for {
		for _, dev := range inputdev.FindPowerButtons("/sys/class/input", "/dev/input") {
			// close-on-exec until the exec of stage two itself (handOverPowerButton)
			fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				console.Warnf("power button: open %s: %v", dev, err)
				continue
			}
			console.Debugf("power button: %s open (fd %d) for stage two", dev, fd)
			powerButtonFDs = append(powerButtonFDs, fd)
		}
		if len(powerButtonFDs) > 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			console.Warnf("power button: no input device named %q yet; stage two looks again", inputdev.PowerButtonName)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func loadButtonModules() error {
	release, err := kmod.Release()
	if err != nil {
		return err
	}
	ix, err := kmod.Open(os.ReadFile, "/", release)
	if err != nil {
		return err
	}
	for _, m := range []string{"button", "evdev"} {
		if err := ix.Load(m, "", kmod.LoadFile); err != nil {
			return err
		}
	}
	return nil
}

// handOverPowerButton clears close-on-exec on the open power button devices and returns env
// with inputdev.FDsEnv naming them (stage two checks each before use).
func handOverPowerButton(env []string) []string {
	var fds []int
	for _, fd := range powerButtonFDs {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	if len(fds) == 0 {
		return env
	}
	return append(env, inputdev.FDsEnv+"="+inputdev.FormatFDs(fds))
}
