package vmrun

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"unicode/utf16"
)

// RootDisk makes the scenario boot from an ext4 root filesystem on an NVMe disk (GPT,
// partition 1: 1 MiB BIOS boot, partition 2: the root) instead of the initramfs, like an
// EC2 instance whose root volume is larger than its AMI: the GPT is written for an image of
// Partition + 2 MiB + 1 MiB, then the file is extended to Size (the backup GPT is left where
// the small image ended, as on a grown EBS snapshot).
type RootDisk struct {
	Size      string `toml:"size"`      // the disk, e.g. "512M"
	Partition string `toml:"partition"` // the root partition and filesystem, e.g. "128M"
}

// Root disk layout in 512-byte sectors.
const (
	rootP1First = 2048
	rootP2First = 4096
	gptEntries  = 128
	gptEntSize  = 128
)

var (
	guidLinuxFS  = []byte{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4}
	guidBIOSBoot = []byte{0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6F, 0x6E, 0x74, 0x4E, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49}
)

// RootKernelArgs are the kernel command-line words that boot from the root disk.
const RootKernelArgs = "root=/dev/nvme0n1p2 rw rootwait"

// buildRootDisk unpacks the root filesystem tarball realTar (a real image; "" for none) and
// the initramfs parts into a tree, makes an ext4 filesystem of it (mkfs.ext4 -d) and writes
// the GPT disk image to out.
func buildRootDisk(work string, rd RootDisk, realTar string, parts ...string) (string, error) {
	size, err := parseSize(rd.Size)
	if err != nil {
		return "", fmt.Errorf("root_disk: %w", err)
	}
	psize, err := parseSize(rd.Partition)
	if err != nil {
		return "", fmt.Errorf("root_disk: %w", err)
	}
	psize &^= 1<<20 - 1
	imageSectors := uint64(rootP2First + psize/512 + 2048)
	if psize < 16<<20 || int64(imageSectors)*512 > size {
		return "", fmt.Errorf("root_disk: partition %s must be ≥ 16M and leave 3 MiB in size %s", rd.Partition, rd.Size)
	}
	tree := filepath.Join(work, "rootfs")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return "", err
	}
	if realTar != "" {
		if out, err := exec.Command("tar", "-xf", realTar, "-C", tree).CombinedOutput(); err != nil {
			return "", fmt.Errorf("root_disk: unpacking %s: %w: %s", realTar, err, out)
		}
	}
	for i, p := range parts { // each part is one gzipped newc archive
		cmd := exec.Command("sh", "-c", `gzip -dc "$1" | cpio -idm --quiet --no-absolute-filenames`, "sh", p)
		cmd.Dir = tree
		if realTar != "" {
			// On a distribution's tree, through tar: it keeps the symlinked directories
			// (/lib → usr/lib) that cpio would replace, and the base part (i = 0) keeps the
			// distribution's own copy of a library the mkfs tools also bring.
			skip := ""
			if i == 0 {
				skip = "--skip-old-files"
			}
			cmd = exec.Command("sh", "-c", `set -e; d=$(mktemp -d "$2/part.XXXXXX"); chmod 0755 "$d"; cd "$d"
gzip -dc "$1" | cpio -idm --quiet --no-absolute-filenames
tar -cf - . | tar -xf - -C "$3" --keep-directory-symlink $4; cd /; rm -rf "$d"`, "sh", p, work, tree, skip)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("root_disk: unpacking %s: %w: %s", filepath.Base(p), err, out)
		}
	}
	fsImg := filepath.Join(work, "rootfs.ext4")
	if err := os.WriteFile(fsImg, nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(fsImg, psize); err != nil {
		return "", err
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, fsImg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("root_disk: mkfs.ext4 -d: %w: %s", err, out)
	}
	_ = os.RemoveAll(tree)

	out := filepath.Join(work, "root.img")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, w := range gptImage(imageSectors, uint64(psize/512)) {
		if _, err := f.WriteAt(w.data, w.off); err != nil {
			return "", fmt.Errorf("root_disk: %w", err)
		}
	}
	src, err := os.Open(fsImg)
	if err != nil {
		return "", err
	}
	defer src.Close()
	if err := sparseCopyAt(f, rootP2First*512, src); err != nil {
		return "", fmt.Errorf("root_disk: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		return "", fmt.Errorf("root_disk: %w", err)
	}
	_ = os.Remove(fsImg)
	return out, f.Close()
}

// sparseCopyAt copies src into dst at off, skipping the all-zero 64 KiB blocks: the
// filesystem image is mostly empty, and writing its zeros cost seconds per scenario. dst must
// read as zeros there (a new file; the caller extends it to its size afterwards).
func sparseCopyAt(dst io.WriterAt, off int64, src io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

type blockWrite struct {
	off  int64
	data []byte
}

// gptImage returns the writes of a protective MBR and a primary and backup GPT for a disk of
// sectors 512-byte sectors with partition 1 (BIOS boot, 1 MiB) and partition 2 (Linux
// filesystem, p2Sectors).
func gptImage(sectors, p2Sectors uint64) []blockWrite {
	mbr := make([]byte, 512)
	e := mbr[446:]
	e[1], e[2], e[3] = 0x00, 0x02, 0x00
	e[4] = 0xEE
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA

	ents := make([]byte, gptEntries*gptEntSize)
	entry := func(i int, typ []byte, first, last uint64, name string) {
		b := ents[i*gptEntSize:]
		copy(b, typ)
		_, _ = rand.Read(b[16:32])
		binary.LittleEndian.PutUint64(b[32:], first)
		binary.LittleEndian.PutUint64(b[40:], last)
		for j, u := range utf16.Encode([]rune(name)) {
			binary.LittleEndian.PutUint16(b[56+2*j:], u)
		}
	}
	entry(0, guidBIOSBoot, rootP1First, rootP2First-1, "bios")
	entry(1, guidLinuxFS, rootP2First, rootP2First+p2Sectors-1, "root")
	entsCRC := crc32.ChecksumIEEE(ents)
	entSectors := uint64(gptEntries * gptEntSize / 512)
	diskGUID := make([]byte, 16)
	_, _ = rand.Read(diskGUID)
	header := func(my, alt, entLBA uint64) []byte {
		h := make([]byte, 512)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 2+entSectors)
		binary.LittleEndian.PutUint64(h[48:], sectors-2-entSectors)
		copy(h[56:72], diskGUID)
		binary.LittleEndian.PutUint64(h[72:], entLBA)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntSize)
		binary.LittleEndian.PutUint32(h[88:], entsCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	last := sectors - 1
	return []blockWrite{
		{0, mbr},
		{512, header(1, last, 2)},
		{2 * 512, bytes.Clone(ents)},
		{int64(last-entSectors) * 512, ents},
		{int64(last) * 512, header(last, 1, last-entSectors)},
	}
}
