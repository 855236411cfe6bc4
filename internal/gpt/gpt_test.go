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

// primary returns the primary header sector and entry array of the image at p, with edit
// applied to the header (its CRC recomputed).
func primary(t *testing.T, p string, edit func(h []byte)) (sector, entries []byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sector = append([]byte(nil), b[ss:2*ss]...)
	if edit != nil {
		edit(sector)
		binary.LittleEndian.PutUint32(sector[16:], headerCRC(sector[:92]))
	}
	return sector, b[2*ss : 2*ss+128*128]
}

// The header's bounds, each at its limit: a 92-byte buffer holding a 92-byte header, at most
// 16384 entries.
func TestParseHeaderLimits(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{2048, 8192 - 35}}, []string{"root"})
	sector, _ := primary(t, p, nil)
	if h, err := ParseHeader(sector[:92]); err != nil || h.HeaderSize != 92 || h.NumEntries != 128 {
		t.Fatalf("92-byte header: %+v, %v", h, err)
	}
	if _, err := ParseHeader(sector[:91]); err == nil || err.Error() != `no GPT header (signature "EFI PART" missing)` {
		t.Fatalf("91 bytes: %v", err)
	}
	for n, want := range map[uint32]string{16384: "", 16385: "GPT entry array 16385×128 is invalid"} {
		s, _ := primary(t, p, func(h []byte) { binary.LittleEndian.PutUint32(h[80:], n) })
		if _, err := ParseHeader(s); (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Errorf("%d entries: %v, want %q", n, err, want)
		}
	}
}

// A partition with no name reads as "", not as 36 NULs.
func TestEntryWithoutName(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{2048, 4095}, {4096, 8192 - 35}}, []string{"", "root"})
	es := load(t, p).Entries()
	if len(es) != 2 || es[0].Name != "" || es[1].Name != "root" || es[0].Index != 1 || es[1].LastLBA != 8192-35 {
		t.Fatalf("entries %+v", es)
	}
}

// The disk-size guard of Grow at its limits, for the usual layout (first usable LBA 34, 32
// sectors of entries): 68 sectors hold the GPT (nothing to grow), 67 do not. With a header
// whose first usable LBA is 2, 66 sectors are too small for two entry arrays and the headers,
// and 67 fail the next check instead (the entry array does not fit below LBA 2).
func TestGrowDiskSizeLimits(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{34, 8192 - 35}}, []string{"root"})
	tb := load(t, p)
	if w, last, err := tb.Grow(1, 68, 1); err != nil || w != nil || last != 8192-35 {
		t.Errorf("68 sectors: %d writes, last %d, %v", len(w), last, err)
	}
	if _, _, err := tb.Grow(1, 67, 1); err == nil || err.Error() != "disk of 67 sectors is too small for its GPT" {
		t.Errorf("67 sectors: %v", err)
	}
	sector, entries := primary(t, p, func(h []byte) { binary.LittleEndian.PutUint64(h[40:], 2) })
	tb2, err := Parse(sector, entries, ss)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[uint64]string{
		66: "disk of 66 sectors is too small for its GPT",
		67: "GPT entry array at LBA 2 does not lie between the header and the first usable LBA 2",
	} {
		if _, _, err := tb2.Grow(1, n, 1); err == nil || err.Error() != want {
			t.Errorf("%d sectors, first usable 2: %v, want %q", n, err, want)
		}
	}
}

// Grow refuses a partition that another one overlaps or follows: growing it would write over
// the other partition.
func TestGrowRefusesOverlap(t *testing.T) {
	const sectors = 8192
	for _, tc := range []struct {
		parts [][2]uint64
		index int
		want  string
	}{
		{[][2]uint64{{2048, 4095}, {4095, 6000}}, 1, "partition 1 is not the last one (partition 2 overlaps it)"},
		{[][2]uint64{{2048, 4095}, {4096, 6000}}, 1, "partition 1 is not the last one (partition 2 starts after it)"},
		{[][2]uint64{{4096, 6000}, {2048, 4096}}, 2, "partition 2 is not the last one (partition 1 overlaps it)"},
		{[][2]uint64{{2048, 4095}, {1000, 2048}}, 1, "partition 1 is not the last one (partition 2 overlaps it)"},
		{[][2]uint64{{4096, 6000}, {2048, 4095}}, 1, ""}, // listed first, lies last: grown
	} {
		tb := load(t, makeImage(t, sectors, tc.parts, []string{"a", "b"}))
		_, last, err := tb.Grow(tc.index, 4*sectors, 1)
		if tc.want == "" && (err != nil || last != 4*sectors-34) || tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%v, grow %d: last %d, %v; want %q", tc.parts, tc.index, last, err, tc.want)
		}
	}
}

// A gain of exactly one alignment unit is made: with align 1, a partition ending one sector
// before the last usable LBA grows by that sector.
func TestGrowByExactlyOneUnit(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{34, 8192 - 35}}, []string{"root"}) // last usable: 8158
	if w, last, err := load(t, p).Grow(1, 8192, 1); err != nil || len(w) != 4 || last != 8192-34 {
		t.Fatalf("Grow by one sector: %d writes, last %d, %v; want 4 writes, last %d", len(w), last, err, 8192-34)
	}
}

// An entry array that runs into the first usable LBA (entries at LBA 3..34, first usable 34)
// is refused.
func TestGrowEntriesOverlapUsable(t *testing.T) {
	p := makeImage(t, 8192, [][2]uint64{{2048, 8192 - 35}}, []string{"root"})
	sector, entries := primary(t, p, func(h []byte) { binary.LittleEndian.PutUint64(h[72:], 3) })
	tb, err := Parse(sector, entries, ss)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Grow(1, 16384, 1); err == nil || err.Error() != "GPT entry array at LBA 3 does not lie between the header and the first usable LBA 34" {
		t.Fatalf("Grow: %v", err)
	}
}
