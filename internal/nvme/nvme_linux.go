//go:build linux

package nvme

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// passthruCmd is struct nvme_passthru_cmd from <linux/nvme_ioctl.h> (72 bytes).
type passthruCmd struct {
	Opcode      uint8
	Flags       uint8
	Rsvd1       uint16
	NSID        uint32
	CDW2        uint32
	CDW3        uint32
	Metadata    uint64
	Addr        uint64
	MetadataLen uint32
	DataLen     uint32
	CDW10       uint32
	CDW11       uint32
	CDW12       uint32
	CDW13       uint32
	CDW14       uint32
	CDW15       uint32
	TimeoutMS   uint32
	Result      uint32
}

// ioctlAdminCmd is NVME_IOCTL_ADMIN_CMD = _IOWR('N', 0x41, struct nvme_passthru_cmd).
const ioctlAdminCmd = 3<<30 | uintptr(unsafe.Sizeof(passthruCmd{}))<<16 | 'N'<<8 | 0x41

const opIdentify = 0x06

// Identify returns the Identify Controller data (4096 bytes) of the NVMe device open in f
// (a namespace such as /dev/nvme0n1, or a partition of one).
func Identify(f *os.File) ([]byte, error) {
	buf := make([]byte, IdentifySize)
	cmd := passthruCmd{
		Opcode:  opIdentify,
		Addr:    uint64(uintptr(unsafe.Pointer(&buf[0]))),
		DataLen: IdentifySize,
		CDW10:   1, // CNS 1: identify controller
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var errno unix.Errno
	var status uintptr
	if cerr := rc.Control(func(fd uintptr) {
		status, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlAdminCmd, uintptr(unsafe.Pointer(&cmd)))
	}); cerr != nil {
		return nil, cerr
	}
	runtime.KeepAlive(buf)
	if errno != 0 {
		return nil, fmt.Errorf("%s: nvme identify: %w", f.Name(), errno)
	}
	if status != 0 { // a positive return is the NVMe completion status
		return nil, fmt.Errorf("%s: nvme identify: controller status %#x", f.Name(), status)
	}
	return buf, nil
}
