package stage2

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gptDisk writes a sparse disk image of imageSectors 512-byte sectors holding a GPT whose one
// partition (the root) spans first..last, as an image builder made it, then extends the file
// to diskSectors (the EBS volume).
func gptDisk(t *testing.T, h *SandboxHost, dev string, imageSectors, diskSectors, first, last uint64) {
	t.Helper()
	entries := make([]byte, 128*128)
	copy(entries[0:16], []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4})
	entries[16] = 1
	binary.LittleEndian.PutUint64(entries[32:], first)
	binary.LittleEndian.PutUint64(entries[40:], last)
	hdr := func(my, alt, entLBA uint64) []byte {
		b := make([]byte, 512)
		le := binary.LittleEndian
		copy(b, "EFI PART")
		le.PutUint32(b[8:], 0x00010000)
		le.PutUint32(b[12:], 92)
		le.PutUint64(b[24:], my)
		le.PutUint64(b[32:], alt)
		le.PutUint64(b[40:], 34)
		le.PutUint64(b[48:], imageSectors-34)
		le.PutUint64(b[72:], entLBA)
		le.PutUint32(b[80:], 128)
		le.PutUint32(b[84:], 128)
		le.PutUint32(b[88:], crc32.ChecksumIEEE(entries))
		le.PutUint32(b[16:], crc32.ChecksumIEEE(b[:92]))
		return b
	}
	full := filepath.Join(h.Root, dev)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []struct {
		lba  uint64
		data []byte
	}{{1, hdr(1, imageSectors-1, 2)}, {2, entries}, {imageSectors - 33, entries}, {imageSectors - 1, hdr(imageSectors-1, 1, imageSectors-33)}} {
		if _, err := f.WriteAt(w.data, int64(w.lba*512)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(diskSectors * 512)); err != nil {
		t.Fatal(err)
	}
	put(t, h, "/sys/block/nvme0n1/size", []byte(strconv.FormatUint(diskSectors, 10)+"\n"))
	put(t, h, "/sys/block/nvme0n1/queue/logical_block_size", []byte("512\n"))
	put(t, h, "/sys/block/nvme0n1/nvme0n1p1/start", []byte(strconv.FormatUint(first, 10)+"\n"))
}

// The root partition is grown only when the volume is larger than the image: on a volume of
// exactly the image's size (the common EC2 case: the partition ends at the last usable LBA,
// which is not 1 MiB aligned) nothing is written; on a larger one the GPT is rewritten and
// the kernel told the new length.
func TestGrowPartition(t *testing.T) {
	const image = 64 << 20 / 512 // 131072 sectors
	root := rootDevice{name: "nvme0n1p1", partn: 1, disk: "nvme0n1", sysPart: "/sys/block/nvme0n1/nvme0n1p1"}
	for _, tc := range []struct {
		name string
		disk uint64
		want []string
	}{
		{"same size", image, nil},
		{"1 MiB larger: less than the slack past the old end", image + 2048, nil},
		{"64 MiB larger", image + 131072, []string{
			"write-device /dev/nvme0n1 16384 bytes at 134200832",
			"write-device /dev/nvme0n1 512 bytes at 134217216",
			"write-device /dev/nvme0n1 16384 bytes at 1024",
			"write-device /dev/nvme0n1 512 bytes at 512",
			// 2048 .. 260095: the end aligned down to 1 MiB below the backup GPT (LBA 262110 is the last usable).
			"resize-partition /dev/nvme0n1 partition 1 start 1048576 length 132120576",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, h, logs := sandbox(t, nil)
			gptDisk(t, h, "/dev/nvme0n1", image, tc.disk, 2048, image-34-1)
			if err := rt.growPartition(root); err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			got := journal(h, "write-device", "resize-partition")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("journal:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), logs)
			}
		})
	}
}
