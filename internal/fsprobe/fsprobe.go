// Package fsprobe tells what a block device holds by looking for well-known signatures in its
// first mebibyte: a filesystem (ext2/3/4, xfs, btrfs), swap, a LUKS container, a partition
// table (GPT, MBR), data of unknown type, or nothing at all (blank).
//
// The probe is pure: it works on the bytes it is handed. A disk is "blank" only when every one
// of the first ProbeSize bytes is zero; anything else that is not recognised is "data". Stage two
// formats a disk only when it is blank.
package fsprobe

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// ProbeSize is how many bytes from the start of a device Probe wants (1 MiB): every signature
// it knows lies inside it.
const ProbeSize = 1 << 20

// Types Probe reports besides filesystem names.
const (
	Blank = "blank"       // the first MiB is all zero
	Data  = "data"        // not zero, no known signature
	Swap  = "swap"        // Linux swap
	LUKS  = "crypto_LUKS" // LUKS container
	GPT   = "gpt"         // GUID partition table
	MBR   = "mbr"         // DOS partition table with at least one entry
	Ext2  = "ext2"
	Ext3  = "ext3"
	Ext4  = "ext4"
	XFS   = "xfs"
	Btrfs = "btrfs"
)

// Result is what a device holds.
type Result struct {
	Type  string // one of the constants above
	Label string // filesystem label when the type has one and it is set
	UUID  string // filesystem UUID when known
	Size  int64  // filesystem size in bytes when known (ext2/3/4, xfs, btrfs), else 0
}

// IsFilesystem reports whether the result is a filesystem that can be mounted.
func (r Result) IsFilesystem() bool {
	switch r.Type {
	case Ext2, Ext3, Ext4, XFS, Btrfs:
		return true
	}
	return false
}

// String describes the result for messages: "xfs", "ext4 (label \"data\")", "data of unknown type".
func (r Result) String() string {
	switch r.Type {
	case Blank:
		return "nothing (blank)"
	case Data:
		return "data of unknown type (first MiB not all zero)"
	case GPT:
		return "a GPT partition table"
	case MBR:
		return "an MBR partition table"
	case LUKS:
		return "a LUKS container"
	case Swap:
		return "swap"
	}
	if r.Label != "" {
		return fmt.Sprintf("%s (label %q)", r.Type, r.Label)
	}
	return r.Type
}

// ext superblock (at byte 1024) fields.
const (
	extSB              = 1024
	extMagicOff        = extSB + 0x38
	extCompatOff       = extSB + 0x5C
	extIncompatOff     = extSB + 0x60
	extROCompatOff     = extSB + 0x64
	extUUIDOff         = extSB + 0x68
	extLabelOff        = extSB + 0x78
	extCompatJournal   = 0x0004
	extIncompatJDev    = 0x0008
	ext3IncompatOK     = 0x0002 | 0x0004 | 0x0010 // filetype, recover, meta_bg
	ext3ROCompatOK     = 0x0001 | 0x0002 | 0x0004 // sparse_super, large_file, btree_dir
	ext2IncompatOK     = 0x0002 | 0x0010          // filetype, meta_bg
	xfsLabelOff        = 108
	btrfsSB            = 0x10000
	btrfsMagicOff      = btrfsSB + 0x40
	btrfsFSIDOff       = btrfsSB + 0x20
	btrfsLabelOff      = btrfsSB + 0x12B
	gptHeaderSector512 = 512
)

// Probe looks at b, the first bytes of a device (ProbeSize of them, or the whole device when it
// is smaller), and reports what it holds. Filesystem and container signatures win over
// partition tables (a filesystem made on a whole disk may leave an old MBR signature behind);
// a GPT wins over its protective MBR.
func Probe(b []byte) Result {
	if r, ok := probeSignatures(b); ok {
		return r
	}
	n := len(b)
	if n > ProbeSize {
		n = ProbeSize
	}
	if allZero(b[:n]) {
		return Result{Type: Blank}
	}
	return Result{Type: Data}
}

func probeSignatures(b []byte) (Result, bool) {
	at := func(off int, sig string) bool {
		return off >= 0 && off+len(sig) <= len(b) && string(b[off:off+len(sig)]) == sig
	}
	switch {
	case at(0, "LUKS\xba\xbe"):
		return Result{Type: LUKS, UUID: cstr(b, 168, 40)}, true
	case at(0, "XFSB"):
		// sb_blocksize × sb_dblocks; 0 when the buffer is too short to hold them.
		size := int64(be32(b, 4)) * int64(be64(b, 8))
		return Result{Type: XFS, UUID: uuid(b, 32), Label: cstr(b, xfsLabelOff, 12), Size: size}, true
	case at(btrfsMagicOff, "_BHRfS_M"):
		size := int64(le64(b, btrfsSB+0x70))
		return Result{Type: Btrfs, UUID: uuid(b, btrfsFSIDOff), Label: cstr(b, btrfsLabelOff, 256), Size: size}, true
	case len(b) >= extROCompatOff+4 && binary.LittleEndian.Uint16(b[extMagicOff:]) == 0xEF53:
		if r, ok := probeExt(b); ok {
			return r, true
		}
	}
	for _, page := range []int{4096, 8192, 16384, 65536} {
		if at(page-10, "SWAPSPACE2") || at(page-10, "SWAP-SPACE") {
			return Result{Type: Swap, UUID: uuid(b, 1024+12), Label: cstr(b, 1024+28, 16)}, true
		}
	}
	if at(512, "EFI PART") || at(4096, "EFI PART") {
		return Result{Type: GPT}, true
	}
	if len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA {
		for i := 0; i < 4; i++ {
			e := b[446+16*i : 446+16*(i+1)]
			if e[4] != 0 && (e[0] == 0 || e[0] == 0x80) { // a type and a valid boot flag
				return Result{Type: MBR}, true
			}
		}
	}
	return Result{}, false
}

func probeExt(b []byte) (Result, bool) {
	compat := binary.LittleEndian.Uint32(b[extCompatOff:])
	incompat := binary.LittleEndian.Uint32(b[extIncompatOff:])
	ro := binary.LittleEndian.Uint32(b[extROCompatOff:])
	if incompat&extIncompatJDev != 0 {
		return Result{}, false // an external journal device, not a filesystem: data
	}
	r := Result{UUID: uuid(b, extUUIDOff), Label: cstr(b, extLabelOff, 16)}
	blocks := uint64(binary.LittleEndian.Uint32(b[extSB+4:]))
	if incompat&0x80 != 0 && len(b) >= extSB+0x154 { // 64bit: s_blocks_count_hi
		blocks |= uint64(binary.LittleEndian.Uint32(b[extSB+0x150:])) << 32
	}
	if logbs := binary.LittleEndian.Uint32(b[extSB+0x18:]); logbs < 16 {
		r.Size = int64(blocks) << (10 + logbs)
	}
	switch {
	case incompat&^ext3IncompatOK != 0 || ro&^ext3ROCompatOK != 0:
		r.Type = Ext4
	case compat&extCompatJournal != 0:
		r.Type = Ext3
	case incompat&^ext2IncompatOK == 0:
		r.Type = Ext2
	default:
		r.Type = Ext4
	}
	return r, true
}

func allZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// be32, be64 and le64 read an integer at off, or return 0 when b is too short for it: every
// read of the probed bytes is bounded (a device may be tiny, a buffer cut anywhere).
func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}

func be64(b []byte, off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint64(b[off:])
}

func le64(b []byte, off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return binary.LittleEndian.Uint64(b[off:])
}

// cstr returns the NUL-terminated string of at most n bytes at off.
func cstr(b []byte, off, n int) string {
	if off < 0 || off+n > len(b) {
		return ""
	}
	s := b[off : off+n]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

func uuid(b []byte, off int) string {
	if off < 0 || off+16 > len(b) {
		return ""
	}
	u := b[off : off+16]
	if allZero(u) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
