package stage1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bootplan/bootplan/internal/console"
	"golang.org/x/sys/unix"
)

// mountAll makes the early mounts and links under root ("/" on a machine). A target that is
// already a mount point (per /proc/self/mountinfo once /proc exists, or EBUSY before) is left
// as it is.
func mountAll(root string, mounts []Mount, links []Symlink) error {
	// PID 1 starts with umask 022 from the kernel; say so rather than inherit it.
	unix.Umask(0o022)
	for _, m := range mounts {
		target := filepath.Join(root, m.Target)
		if fi, err := os.Lstat(target); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if m.Optional {
				console.Debugf("mount: %s is a symlink in the image, not mounting %s there", m.Target, m.FSType)
				continue
			}
		}
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && IsMountPoint(string(mi), target) {
			console.Debugf("mount: %s already mounted, skipping", target)
			continue
		}
		if err := os.MkdirAll(target, m.Mode); err != nil {
			return mountErr(m, fmt.Errorf("mount %s: mkdir %s: %w", m.FSType, target, err))
		}
		err := unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data)
		switch {
		case err == nil:
		case errors.Is(err, unix.EBUSY):
			console.Warnf("mount point %s already mounted, skipping", target)
		default:
			if err := mountErr(m, fmt.Errorf("mount %s on %s (%s): %w", m.Source, target, m.FSType, err)); err != nil {
				return err
			}
		}
	}
	for _, l := range links {
		link := filepath.Join(root, l.Link)
		if err := os.Symlink(l.Target, link); err != nil && !errors.Is(err, os.ErrExist) {
			console.Warnf("symlink %s -> %s: %v", link, l.Target, err)
		}
	}
	return nil
}

func mountErr(m Mount, err error) error {
	if m.Optional {
		console.Warnf("%v (continuing)", err)
		return nil
	}
	return err
}
