package fsprobe

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bootplan/bootplan/internal/testneed"
)

// image makes a sparse file of size bytes and runs tool with args + the file on it.
func image(t *testing.T, size int64, tool string, args ...string) []byte {
	t.Helper()
	path := testneed.Tool(t, tool, "e2fsprogs xfsprogs btrfs-progs util-linux")
	f := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, size); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, append(args, f)...)
	cmd.Stdin = nil // never a terminal
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return head(t, f)
}

func head(t *testing.T, path string) []byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, ProbeSize)
	n, err := io.ReadFull(fh, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	return b[:n]
}

func TestMkfsImages(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name, tool string
		size       int64
		args       []string
		want       string
		label      string
	}{
		{"ext2", "mkfs.ext2", 64 * mib, []string{"-q", "-F", "-L", "two"}, Ext2, "two"},
		{"ext3", "mkfs.ext3", 64 * mib, []string{"-q", "-F"}, Ext3, ""},
		{"ext4", "mkfs.ext4", 64 * mib, []string{"-q", "-F", "-L", "data"}, Ext4, "data"},
		{"ext4 no extents-like defaults", "mkfs.ext4", 64 * mib, []string{"-q", "-F", "-O", "^metadata_csum,^64bit"}, Ext4, ""},
		{"xfs", "mkfs.xfs", 320 * mib, []string{"-q", "-f", "-L", "x"}, XFS, "x"},
		{"btrfs", "mkfs.btrfs", 256 * mib, []string{"-q", "-f", "-L", "b"}, Btrfs, "b"},
		{"swap", "mkswap", 64 * mib, []string{"-L", "sw"}, Swap, "sw"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Probe(image(t, c.size, c.tool, c.args...))
			if got.Type != c.want || got.Label != c.label {
				t.Fatalf("Probe = %+v, want type %s label %q", got, c.want, c.label)
			}
			// Each tool makes its filesystem fill the image.
			if got.IsFilesystem() && got.Size != c.size {
				t.Errorf("size %d for a %d-byte image", got.Size, c.size)
			}
			if got.Type != Swap && got.UUID == "" {
				t.Errorf("no UUID in %+v", got)
			}
			if !got.IsFilesystem() && got.Type != Swap {
				t.Errorf("%s not a filesystem", got.Type)
			}
		})
	}
}

func TestSyntheticSignatures(t *testing.T) {
	put := func(b []byte, off int, s string) []byte { copy(b[off:], s); return b }
	zero := func() []byte { return make([]byte, ProbeSize) }
	mbr := func(typ byte) []byte {
		b := zero()
		b[510], b[511] = 0x55, 0xAA
		b[446+4] = typ
		return b
	}
	rnd := make([]byte, ProbeSize)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"zero MiB", zero(), Blank},
		{"short zero device", make([]byte, 4096), Blank},
		{"empty read", nil, Blank},
		{"random", rnd, Data},
		{"one byte at the end of the MiB", func() []byte { b := zero(); b[ProbeSize-1] = 1; return b }(), Data},
		{"LUKS", put(zero(), 0, "LUKS\xba\xbe"), LUKS},
		{"GPT", put(mbr(0xEE), 512, "EFI PART"), GPT},
		{"GPT 4k sectors", put(zero(), 4096, "EFI PART"), GPT},
		{"MBR with a partition", mbr(0x83), MBR},
		{"MBR signature, empty table", mbr(0), Data},
		{"swap 64k page", put(zero(), 65536-10, "SWAPSPACE2"), Swap},
		{"xfs", put(zero(), 0, "XFSB"), XFS},
		{"btrfs", put(zero(), 65536+64, "_BHRfS_M"), Btrfs},
		{"ext journal device", func() []byte { b := zero(); b[1080], b[1081] = 0x53, 0xEF; b[1024+0x60] = 0x08; return b }(), Data},
		{"ext2 bare magic", func() []byte { b := zero(); b[1080], b[1081] = 0x53, 0xEF; return b }(), Ext2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Probe(c.b); got.Type != c.want {
				t.Fatalf("Probe = %+v, want %s", got, c.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for r, want := range map[Result]string{
		{Type: XFS}:                 "xfs",
		{Type: Ext4, Label: "data"}: `ext4 (label "data")`,
		{Type: Data}:                "data of unknown type (first MiB not all zero)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", r, got, want)
		}
	}
}

// Signatures in buffers cut short right after them: the type is still reported, and no read
// goes past the end (these panicked: xfs read 16 bytes, btrfs 8 bytes at 0x10070).
func TestTruncatedBuffers(t *testing.T) {
	btrfs := func(n int) []byte {
		b := make([]byte, n)
		copy(b[btrfsMagicOff:], "_BHRfS_M")
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"xfs magic only", []byte("XFSB"), XFS},
		{"xfs 7 bytes", []byte("XFSB\x00\x00\x10"), XFS},
		{"xfs 15 bytes", append([]byte("XFSB\x00\x00\x10\x00"), make([]byte, 7)...), XFS},
		{"btrfs magic at the end", btrfs(btrfsMagicOff + 8), Btrfs},
		{"btrfs just short of the size", btrfs(btrfsSB + 0x70 + 7), Btrfs},
		{"ext magic short", append(make([]byte, extMagicOff), 0x53, 0xEF), Data},
		{"ext superblock cut right after the ro-compat field", func() []byte {
			b := make([]byte, extROCompatOff+4)
			b[extMagicOff], b[extMagicOff+1] = 0x53, 0xEF
			return b
		}(), Ext2},
		{"mbr signature only", append(make([]byte, 510), 0x55, 0xAA), Data},
		{"empty", nil, Blank},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Probe(tc.b); got.Type != tc.want {
				t.Fatalf("Probe = %+v, want %s", got, tc.want)
			}
		})
	}
}

// MBR: a table needs the 55 AA signature and one entry with a type and a valid boot flag (0 or
// 0x80), in any of the four slots; the signature may end the buffer.
func TestMBR(t *testing.T) {
	mbr := func(n, slot int, flag, typ byte) []byte {
		b := make([]byte, n)
		b[510], b[511] = 0x55, 0xAA
		b[446+16*slot] = flag
		b[446+16*slot+4] = typ
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"slot 1, not bootable", mbr(ProbeSize, 0, 0, 0x83), MBR},
		{"slot 1, bootable", mbr(ProbeSize, 0, 0x80, 0x83), MBR},
		{"slot 4, bootable", mbr(ProbeSize, 3, 0x80, 0x0c), MBR},
		{"slot 2", mbr(ProbeSize, 1, 0, 0x07), MBR},
		{"invalid boot flag", mbr(ProbeSize, 0, 0x01, 0x83), Data},
		{"boot flag, no type", mbr(ProbeSize, 2, 0x80, 0), Data},
		{"exactly one sector", mbr(512, 0, 0, 0x83), MBR},
		{"55 without AA", func() []byte { b := mbr(512, 0, 0, 0x83); b[511] = 0; return b }(), Data},
	} {
		if got := Probe(tc.b); got.Type != tc.want {
			t.Errorf("%s: Probe = %+v, want %s", tc.name, got, tc.want)
		}
	}
}

// Every field Probe reports, from hand-made superblocks with known values.
func TestSyntheticFields(t *testing.T) {
	be32 := func(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
	le32 := func(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	id := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	const idStr = "01234567-89ab-cdef-fedc-ba9876543210"
	// ext: magic, blocks count, log block size, features.
	ext := func(n int, blocks, logbs, compat, incompat, ro uint32, hi uint32) []byte {
		b := make([]byte, n)
		b[extMagicOff], b[extMagicOff+1] = 0x53, 0xEF
		le32(b, extSB+4, blocks)
		le32(b, extSB+0x18, logbs)
		le32(b, extCompatOff, compat)
		le32(b, extIncompatOff, incompat)
		le32(b, extROCompatOff, ro)
		copy(b[extUUIDOff:], id)
		copy(b[extLabelOff:], "lbl")
		if n >= extSB+0x154 {
			le32(b, extSB+0x150, hi)
		}
		return b
	}
	xfs := func() []byte {
		b := make([]byte, 4096)
		copy(b, "XFSB")
		be32(b, 4, 4096)
		binary.BigEndian.PutUint64(b[8:], 81920)
		copy(b[32:], id)
		copy(b[xfsLabelOff:], "xfslabel")
		return b
	}()
	btrfs := func() []byte {
		b := make([]byte, ProbeSize)
		copy(b[btrfsMagicOff:], "_BHRfS_M")
		binary.LittleEndian.PutUint64(b[btrfsSB+0x70:], 268435456)
		copy(b[btrfsFSIDOff:], id)
		copy(b[btrfsLabelOff:], "btr")
		return b
	}()
	swap := func(page int, sig string) []byte {
		b := make([]byte, ProbeSize)
		copy(b[page-10:], sig)
		copy(b[1024+12:], id)
		copy(b[1024+28:], "swaplabel")
		return b
	}
	luks := func() []byte {
		b := make([]byte, 4096)
		copy(b, "LUKS\xba\xbe")
		copy(b[168:], idStr)
		return b
	}()
	for _, tc := range []struct {
		name string
		b    []byte
		want Result
	}{
		{"ext2 1k blocks", ext(4096, 1000, 0, 0, 0x0002, 0x0001, 0), Result{Type: Ext2, UUID: idStr, Label: "lbl", Size: 1000 << 10}},
		{"ext3 4k blocks", ext(4096, 1000, 2, extCompatJournal, 0x0002, 0x0003, 0), Result{Type: Ext3, UUID: idStr, Label: "lbl", Size: 1000 << 12}},
		{"ext4 64bit", ext(4096, 1000, 2, extCompatJournal, 0x0080|0x0040, 0, 1), Result{Type: Ext4, UUID: idStr, Label: "lbl", Size: (1<<32 + 1000) << 12}},
		{"ext4 64bit, buffer ends before the high word", ext(extSB+0x153, 1000, 2, 0, 0x0080, 0, 0), Result{Type: Ext4, UUID: idStr, Label: "lbl", Size: 1000 << 12}},
		{"ext4 64bit, buffer holds the high word", ext(extSB+0x154, 1000, 2, 0, 0x0080, 0, 2), Result{Type: Ext4, UUID: idStr, Label: "lbl", Size: (2<<32 + 1000) << 12}},
		{"ext2 high word without 64bit", ext(4096, 1000, 0, 0, 0, 0, 7), Result{Type: Ext2, UUID: idStr, Label: "lbl", Size: 1000 << 10}},
		{"ext log block size 15", ext(4096, 2, 15, 0, 0, 0, 0), Result{Type: Ext2, UUID: idStr, Label: "lbl", Size: 2 << 25}},
		{"ext log block size 16: no size", ext(4096, 2, 16, 0, 0, 0, 0), Result{Type: Ext2, UUID: idStr, Label: "lbl"}},
		{"ext3 with an unknown ro feature is ext4", ext(4096, 8, 0, extCompatJournal, 0, 0x0008, 0), Result{Type: Ext4, UUID: idStr, Label: "lbl", Size: 8 << 10}},
		{"ext without journal, extents", ext(4096, 8, 0, 0, 0x0040, 0, 0), Result{Type: Ext4, UUID: idStr, Label: "lbl", Size: 8 << 10}},
		{"xfs", xfs, Result{Type: XFS, UUID: idStr, Label: "xfslabel", Size: 4096 * 81920}},
		{"btrfs", btrfs, Result{Type: Btrfs, UUID: idStr, Label: "btr", Size: 268435456}},
		{"swap 4k page", swap(4096, "SWAPSPACE2"), Result{Type: Swap, UUID: idStr, Label: "swaplabel"}},
		{"swap 8k page", swap(8192, "SWAPSPACE2"), Result{Type: Swap, UUID: idStr, Label: "swaplabel"}},
		{"swap 16k page", swap(16384, "SWAPSPACE2"), Result{Type: Swap, UUID: idStr, Label: "swaplabel"}},
		{"old swap, 4k page", swap(4096, "SWAP-SPACE"), Result{Type: Swap, UUID: idStr, Label: "swaplabel"}},
		{"old swap, 64k page", swap(65536, "SWAP-SPACE"), Result{Type: Swap, UUID: idStr, Label: "swaplabel"}},
		{"luks", luks, Result{Type: LUKS, UUID: idStr}},
	} {
		if got := Probe(tc.b); got != tc.want {
			t.Errorf("%s: Probe = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// Only the first ProbeSize bytes count: a longer buffer with data after them is blank.
func TestProbeLooksAtTheFirstMiBOnly(t *testing.T) {
	b := make([]byte, ProbeSize+1)
	b[ProbeSize] = 1
	if got := Probe(b); got.Type != Blank {
		t.Fatalf("Probe = %+v, want blank", got)
	}
	b[ProbeSize-1] = 1
	if got := Probe(b); got.Type != Data {
		t.Fatalf("Probe = %+v, want data", got)
	}
}

// The bounded readers read a field that ends the buffer, and return zero for one that does
// not fit or lies before it.
func TestReadersAtTheirBounds(t *testing.T) {
	b := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if be32(b, 4) != 0x05060708 || be32(b, 5) != 0 || be32(b, -1) != 0 || be32(b, 0) != 0x01020304 {
		t.Errorf("be32: %#x %#x %#x", be32(b, 4), be32(b, 5), be32(b, -1))
	}
	if be64(b, 0) != 0x0102030405060708 || be64(b, 1) != 0 || be64(b, -1) != 0 {
		t.Errorf("be64: %#x %#x", be64(b, 0), be64(b, 1))
	}
	if le64(b, 0) != 0x0807060504030201 || le64(b, 1) != 0 || le64(b, -1) != 0 {
		t.Errorf("le64: %#x %#x", le64(b, 0), le64(b, 1))
	}
	s := []byte("ab\x00cdef")
	if cstr(s, 0, 7) != "ab" || cstr(s, 3, 4) != "cdef" || cstr(s, 3, 5) != "" || cstr(s, -1, 2) != "" || cstr(s, 0, 0) != "" {
		t.Errorf("cstr: %q %q %q", cstr(s, 0, 7), cstr(s, 3, 4), cstr(s, 3, 5))
	}
	u := make([]byte, 17)
	u[16] = 0xff
	if uuid(u, 1) != "00000000-0000-0000-0000-0000000000ff" || uuid(u, 0) != "" || uuid(u, 2) != "" || uuid(u, -1) != "" {
		t.Errorf("uuid: %q %q %q", uuid(u, 1), uuid(u, 0), uuid(u, 2))
	}
	if got := uuid(u[16:], -16); got != "" {
		t.Errorf("uuid before the buffer: %q", got)
	}
	u[0] = 0xab
	if got := uuid(u, 0); got != "ab000000-0000-0000-0000-000000000000" {
		t.Errorf("uuid at offset 0: %q", got)
	}
}

// String and IsFilesystem for every type.
func TestEveryTypeDescribed(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
		fs   bool
	}{
		{Result{Type: Blank}, "nothing (blank)", false},
		{Result{Type: Data}, "data of unknown type (first MiB not all zero)", false},
		{Result{Type: GPT}, "a GPT partition table", false},
		{Result{Type: MBR}, "an MBR partition table", false},
		{Result{Type: LUKS, Label: "x"}, "a LUKS container", false},
		{Result{Type: Swap, Label: "x"}, "swap", false},
		{Result{Type: Ext2}, "ext2", true},
		{Result{Type: Ext3, Label: "l"}, `ext3 (label "l")`, true},
		{Result{Type: Ext4}, "ext4", true},
		{Result{Type: XFS}, "xfs", true},
		{Result{Type: Btrfs, Label: "b"}, `btrfs (label "b")`, true},
	} {
		if got := tc.r.String(); got != tc.want || tc.r.IsFilesystem() != tc.fs {
			t.Errorf("%+v: String() = %q, IsFilesystem() = %v; want %q, %v", tc.r, got, tc.r.IsFilesystem(), tc.want, tc.fs)
		}
	}
}
