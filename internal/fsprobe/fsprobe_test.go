package fsprobe

import (
	"crypto/rand"
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
			if got.IsFilesystem() && (got.Size <= 0 || got.Size > c.size) {
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
