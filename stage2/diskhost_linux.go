package stage2

import (
	"context"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/nvme"
	"github.com/bootplan/bootplan/internal/uevent"
)

// NVMeIdentify asks the controller behind dev for its Identify Controller data.
func (h *LinuxHost) NVMeIdentify(dev string) ([]byte, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return nvme.Identify(f)
}

// WatchBlockDevices listens on a NETLINK_KOBJECT_UEVENT socket in a goroutine.
func (h *LinuxHost) WatchBlockDevices(ctx context.Context, added func(string, int)) error {
	c, err := uevent.Open()
	if err != nil {
		return err
	}
	go func() {
		defer c.Close()
		watchUevents(ctx, c.Next, added)
	}()
	return nil
}

func (h *LinuxHost) Readlink(p string) (string, error) { return os.Readlink(p) }

func (h *LinuxHost) WriteDevice(p string, off int64, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (h *LinuxHost) ResizePartition(disk string, partno int, start, length int64) error {
	f, err := os.Open(disk)
	if err != nil {
		return err
	}
	defer f.Close()
	part := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(partno)}
	arg := unix.BlkpgIoctlArg{
		Op:      unix.BLKPG_RESIZE_PARTITION,
		Datalen: int32(unsafe.Sizeof(part)),
		Data:    (*byte)(unsafe.Pointer(&part)),
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return fmt.Errorf("BLKPG resize partition %d of %s: %w", partno, disk, errno)
	}
	return nil
}
