package gpt

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzParse: Parse, Entries and Grow never panic on a header sector and entry array. With
// fix set the CRCs are made right first, so the fuzzer gets past them to the entries and to
// Grow, whose writes must lie inside the disk and keep their sizes.
func FuzzParse(f *testing.F) {
	sector, entries := seedTable()
	f.Add(sector, entries, uint16(512), uint64(1<<21), uint8(1), uint32(2048), false)
	f.Add(sector, entries, uint16(512), uint64(1<<21), uint8(1), uint32(2048), true)
	f.Add(sector, entries, uint16(4096), uint64(1<<18), uint8(1), uint32(256), true)
	f.Add(sector[:92], entries[:128], uint16(0), uint64(0), uint8(0), uint32(0), true)
	f.Add([]byte("EFI PART"), []byte{}, uint16(512), uint64(10), uint8(1), uint32(1), true)
	f.Fuzz(func(t *testing.T, sector, entries []byte, sectorSize uint16, diskSectors uint64, index uint8, align uint32, fix bool) {
		if fix && len(sector) >= 92 {
			sector = append([]byte(nil), sector...)
			le := binary.LittleEndian
			if n := int(le.Uint32(sector[80:])) * int(le.Uint32(sector[84:])); n >= 0 && n <= len(entries) {
				le.PutUint32(sector[88:], crc32.ChecksumIEEE(entries[:n]))
			}
			if hs := le.Uint32(sector[12:]); hs >= 92 && int(hs) <= len(sector) {
				le.PutUint32(sector[16:], headerCRC(sector[:hs]))
			}
		}
		_, _ = ParseHeader(sector)
		tb, err := Parse(sector, entries, int(sectorSize))
		if err != nil {
			return
		}
		for _, e := range tb.Entries() {
			_ = e.Name
		}
		writes, _, err := tb.Grow(int(index), diskSectors, uint64(align))
		if err != nil {
			return
		}
		ss := uint64(tb.SectorSize)
		for _, w := range writes {
			if w.Offset < 0 || uint64(w.Offset)%ss != 0 || uint64(w.Offset)/ss >= diskSectors || uint64(len(w.Data)) > (diskSectors-uint64(w.Offset)/ss)*ss {
				t.Fatalf("write of %d bytes at %d outside a disk of %d×%d", len(w.Data), w.Offset, diskSectors, ss)
			}
		}
	})
}

// seedTable is a valid primary GPT of a 1 GiB disk (512-byte sectors) with one partition.
func seedTable() (sector, entries []byte) {
	le := binary.LittleEndian
	entries = make([]byte, 128*128)
	copy(entries[0:16], "0123456789abcdef")  // type GUID
	copy(entries[16:32], "fedcba9876543210") // unique GUID
	le.PutUint64(entries[32:], 2048)
	le.PutUint64(entries[40:], 1<<20)
	for i, c := range "root" {
		le.PutUint16(entries[56+2*i:], uint16(c))
	}
	sector = make([]byte, 512)
	copy(sector, Signature)
	le.PutUint32(sector[8:], 0x00010000)
	le.PutUint32(sector[12:], 92)
	le.PutUint64(sector[24:], 1)
	le.PutUint64(sector[32:], 1<<21-1)
	le.PutUint64(sector[40:], 34)
	le.PutUint64(sector[48:], 1<<21-34)
	le.PutUint64(sector[72:], 2)
	le.PutUint32(sector[80:], 128)
	le.PutUint32(sector[84:], 128)
	le.PutUint32(sector[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(sector[16:], headerCRC(sector[:92]))
	return sector, entries
}
