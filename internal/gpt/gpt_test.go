package gpt

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/bootplan/bootplan/internal/testneed"
)

const ss = 512

// makeImage writes a disk image of sectors sectors with a protective MBR and a GPT holding
// the given partitions ([first,last] LBA, name), as an image builder would.
func makeImage(t *testing.T, sectors uint64, parts [][2]uint64, names []string) string {
	t.Helper()
	img := make([]byte, sectors*ss)
	img[510], img[511] = 0x55, 0xAA
	img[446+4] = 0xEE
	binary.LittleEndian.PutUint32(img[446+8:], 1)
	binary.LittleEndian.PutUint32(img[446+12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	entries := make([]byte, 128*128)
	for i, p := range parts {
		e := entries[i*128:]
		copy(e[0:16], []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4}) // Linux filesystem
		e[16] = byte(i + 1)
		binary.LittleEndian.PutUint64(e[32:], p[0])
		binary.LittleEndian.PutUint64(e[40:], p[1])
		for j, c := range utf16.Encode([]rune(names[i])) {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
	}
	hdr := func(my, alt, entLBA uint64) []byte {
		h := make([]byte, ss)
		copy(h, Signature)
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 34)
		binary.LittleEndian.PutUint64(h[48:], sectors-34)
		h[56] = 0x42
		binary.LittleEndian.PutUint64(h[72:], entLBA)
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	copy(img[ss:], hdr(1, sectors-1, 2))
	copy(img[2*ss:], entries)
	copy(img[(sectors-33)*ss:], entries)
	copy(img[(sectors-1)*ss:], hdr(sectors-1, 1, sectors-33))
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, f *os.File, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t *testing.T, path string) *Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := ParseHeader(read(t, f, ss, ss))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Parse(read(t, f, ss, ss), read(t, f, int64(h.EntriesLBA)*ss, h.EntriesBytes()), ss)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestGrowImage(t *testing.T) {
	const small = 64 << 20 / ss // 64 MiB image
	p := makeImage(t, small, [][2]uint64{{2048, 4095}, {4096, small - 34 - 1}}, []string{"efi", "root"})
	// The "EBS volume" is bigger than the image: extend the file to 200 MiB.
	const big = 200 << 20 / ss
	if err := os.Truncate(p, big*ss); err != nil {
		t.Fatal(err)
	}
	tb := load(t, p)
	es := tb.Entries()
	if len(es) != 2 || es[1].Name != "root" || es[1].FirstLBA != 4096 {
		t.Fatalf("entries %+v", es)
	}
	if _, _, err := tb.Grow(1, big, 2048); err == nil || !strings.Contains(err.Error(), "not the last") {
		t.Fatalf("growing a middle partition: %v", err)
	}
	writes, last, err := tb.Grow(2, big, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64((big-34)/2048*2048 - 1); last != want {
		t.Fatalf("new last LBA %d, want %d", last, want)
	}
	if (last+1)%2048 != 0 || last > big-34 {
		t.Fatalf("new last LBA %d not aligned or past last usable", last)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	tb2 := load(t, p)
	if e := tb2.Entries()[1]; e.LastLBA != last || e.FirstLBA != 4096 {
		t.Fatalf("after grow: %+v", e)
	}
	if tb2.Header.AlternateLBA != big-1 || tb2.Header.LastUsable != big-34 {
		t.Fatalf("header after grow: %+v", tb2.Header)
	}
	// The backup header at the new end parses and points at the backup entries.
	f, _ = os.Open(p)
	bh := read(t, f, (big-1)*ss, ss)
	f.Close()
	bhdr, err := ParseHeader(bh)
	if err != nil || bhdr.MyLBA != big-1 || bhdr.AlternateLBA != 1 || bhdr.EntriesLBA != big-33 {
		t.Fatalf("backup header %+v, %v", bhdr, err)
	}
	// Growing again changes nothing.
	if w, l, err := tb2.Grow(2, big, 2048); err != nil || w != nil || l != last {
		t.Fatalf("second grow: %d writes, last %d, %v", len(w), l, err)
	}
	// An independent reader agrees (util-linux partx checks the CRCs).
	partx := testneed.Tool(t, "partx", "util-linux")
	out, err := exec.Command(partx, "--show", "-g", "-o", "NR,START,END,NAME", p).CombinedOutput()
	if err != nil {
		t.Fatalf("partx: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "4096") || !strings.Contains(string(out), " root") || !strings.Contains(strings.Join(strings.Fields(string(out)), " "), "2 4096 "+strconv.FormatUint(last, 10)) {
		t.Fatalf("partx sees:\n%s", out)
	}
}

func TestCorruptHeader(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{2048, 8192 - 35}}, []string{"root"})
	b, _ := os.ReadFile(p)
	b[ss+40] ^= 1 // first usable changed: CRC no longer matches
	if _, err := ParseHeader(b[ss : 2*ss]); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("corrupt header: %v", err)
	}
	if _, err := ParseHeader(make([]byte, ss)); err == nil {
		t.Fatal("zero sector parsed as GPT")
	}
	b, _ = os.ReadFile(p)
	b[2*ss+40] ^= 1
	h, _ := ParseHeader(b[ss : 2*ss])
	if _, err := Parse(b[ss:2*ss], b[2*ss:2*ss+h.EntriesBytes()], ss); err == nil || !strings.Contains(err.Error(), "entries CRC") {
		t.Fatalf("corrupt entries: %v", err)
	}
}

// The common EC2 case: the root volume is exactly the image's size. The root partition ends
// at the last usable LBA, which is not aligned, so the aligned end lies below it: Grow must
// write nothing and keep the partition as it is, never shrink it.
func TestGrowSameSizeDiskIsNoOp(t *testing.T) {
	const sectors = 64 << 20 / ss
	const rootLast = sectors - 34 - 1 // 131037
	p := makeImage(t, sectors, [][2]uint64{{2048, 4095}, {4096, rootLast}}, []string{"efi", "root"})
	tb := load(t, p)
	writes, last, err := tb.Grow(2, sectors, 2048)
	if err != nil || writes != nil || last != rootLast {
		t.Fatalf("Grow on a same-size disk: %d writes, last %d, %v; want no writes, last %d", len(writes), last, err, rootLast)
	}
	// One alignment unit more gains 34 sectors only (less than 2048): still nothing written.
	if writes, last, err = tb.Grow(2, sectors+2048, 2048); err != nil || writes != nil || last != rootLast {
		t.Fatalf("Grow by 2048 sectors: %d writes, last %d, %v; want none", len(writes), last, err)
	}
	// Two units more: the partition ends at the last aligned LBA, 133119.
	if writes, last, err = tb.Grow(2, sectors+4096, 2048); err != nil || len(writes) != 4 || last != 133119 {
		t.Fatalf("Grow by 4096 sectors: %d writes, last %d, %v; want 4 writes, last 133119", len(writes), last, err)
	}
}
