package stage2

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/bootplan/bootplan/internal/backoff"
	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/uevent"
)

// DiskHost is the part of Host the disk steps (NVMe links, EBS, root growth) use, kept in this
// file beside them. Every Host has it (Host embeds it).
type DiskHost interface {
	// NVMeIdentify returns the 4096-byte Identify Controller data of the NVMe device at dev.
	NVMeIdentify(dev string) ([]byte, error)
	// WatchBlockDevices subscribes to kernel uevents and calls added (from one goroutine, in
	// order) for every block device node the kernel adds until ctx is done. It returns once
	// subscribed, so a coldplug scan started afterwards misses nothing.
	WatchBlockDevices(ctx context.Context, added func(devname string, partn int)) error
	// Readlink returns the target of a symbolic link.
	Readlink(path string) (string, error)
	// WriteDevice writes data at off to a block device and flushes it to the device.
	WriteDevice(path string, off int64, data []byte) error
	// ResizePartition tells the kernel that partition partno of disk now spans
	// [start, start+length) bytes (BLKPG_RESIZE_PARTITION).
	ResizePartition(disk string, partno int, start, length int64) error
}

// ueventErrorPause spaces out receive errors, so a socket that keeps failing is not a busy
// loop writing warnings to the console.
var ueventErrorPause = time.Second

// watchUevents is the uevent listener's loop, for as long as PID 1 runs (until ctx is done):
// it calls added for every block device the kernel adds. It runs on a goroutine of its own,
// where a panic would kill PID 1 (a kernel panic), so a panic while handling one event (NVMe
// identify data, EC2 answers) is logged and the next event is handled.
func watchUevents(ctx context.Context, next func(context.Context) (uevent.Event, error), added func(string, int)) {
	for {
		e, err := next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			console.Warnf("nvme: uevents: %v", err) // ENOBUFS: events lost; keep listening
			if backoff.Sleep(ctx, ueventErrorPause) != nil {
				return
			}
			continue
		}
		if e.IsBlockAdd() {
			handleUevent(e, added)
		}
	}
}

func handleUevent(e uevent.Event, added func(string, int)) {
	defer func() {
		if p := recover(); p != nil {
			console.Errorf("nvme: handling the uevent for %s panicked: %v\n%s", e.DevName, p, debug.Stack())
		}
	}()
	added(e.DevName, e.PartN)
}

var (
	_ DiskHost = (*LinuxHost)(nil)
	_ DiskHost = (*SandboxHost)(nil)
)

// NVMeIdentify reads identify data from the file "<dev>.nvme-identify" under the root, when a
// test placed one there; otherwise the device is not an NVMe controller.
func (h *SandboxHost) NVMeIdentify(dev string) ([]byte, error) {
	r, err := h.rel(dev + ".nvme-identify")
	if err != nil {
		return nil, err
	}
	b, err := h.root.ReadFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: not an NVMe controller in the sandbox: %w", dev, err)
	}
	return b, nil
}

// WatchBlockDevices records the subscription; the sandbox has no kernel events.
func (h *SandboxHost) WatchBlockDevices(ctx context.Context, added func(string, int)) error {
	h.record("uevents", "watching block devices")
	return nil
}

// Readlink reads a link under the root.
func (h *SandboxHost) Readlink(p string) (string, error) {
	r, err := h.rel(p)
	if err != nil {
		return "", err
	}
	t, err := h.root.Readlink(r)
	return t, h.wrap("readlink", p, err)
}

// WriteDevice records the write; devices are never written in the sandbox.
func (h *SandboxHost) WriteDevice(p string, off int64, data []byte) error {
	h.record("write-device", "%s %d bytes at %d", p, len(data), off)
	return nil
}

// ResizePartition records the resize.
func (h *SandboxHost) ResizePartition(disk string, partno int, start, length int64) error {
	h.record("resize-partition", "%s partition %d start %d length %d", disk, partno, start, length)
	return nil
}
