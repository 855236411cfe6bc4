// Package gpt reads a GUID partition table and grows its last partition to the end of a
// larger disk (an EBS root volume made bigger than the image), rewriting the primary and
// backup headers and entry arrays with their CRCs. Pure: it works on bytes; the caller reads
// and writes the device.
package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unicode/utf16"
)

// Signature starts a GPT header.
const Signature = "EFI PART"

// Header is the decoded GPT header.
type Header struct {
	MyLBA, AlternateLBA     uint64
	FirstUsable, LastUsable uint64
	EntriesLBA              uint64
	NumEntries, EntrySize   uint32
	HeaderSize              uint32
}

// Entry is one used partition entry.
type Entry struct {
	Index             int // 1-based partition number
	FirstLBA, LastLBA uint64
	Name              string
}

// Table is a parsed primary GPT.
type Table struct {
	SectorSize int
	Header     Header
	raw        []byte // header sector
	entries    []byte // entry array
}

// EntriesBytes is how many bytes of entries a header describes.
func (h Header) EntriesBytes() int { return int(h.NumEntries) * int(h.EntrySize) }

// ParseHeader decodes and checks the primary header sector (LBA 1).
func ParseHeader(sector []byte) (Header, error) {
	if len(sector) < 92 || string(sector[:8]) != Signature {
		return Header{}, errors.New("no GPT header (signature \"EFI PART\" missing)")
	}
	le := binary.LittleEndian
	h := Header{
		HeaderSize:   le.Uint32(sector[12:]),
		MyLBA:        le.Uint64(sector[24:]),
		AlternateLBA: le.Uint64(sector[32:]),
		FirstUsable:  le.Uint64(sector[40:]),
		LastUsable:   le.Uint64(sector[48:]),
		EntriesLBA:   le.Uint64(sector[72:]),
		NumEntries:   le.Uint32(sector[80:]),
		EntrySize:    le.Uint32(sector[84:]),
	}
	if h.HeaderSize < 92 || int(h.HeaderSize) > len(sector) {
		return Header{}, fmt.Errorf("GPT header size %d is invalid", h.HeaderSize)
	}
	if h.EntrySize < 128 || h.EntrySize%8 != 0 || h.NumEntries == 0 || h.NumEntries > 16384 {
		return Header{}, fmt.Errorf("GPT entry array %d×%d is invalid", h.NumEntries, h.EntrySize)
	}
	if got, want := headerCRC(sector[:h.HeaderSize]), le.Uint32(sector[16:]); got != want {
		return Header{}, fmt.Errorf("GPT header CRC %08x, want %08x", got, want)
	}
	return h, nil
}

func headerCRC(h []byte) uint32 {
	c := append([]byte(nil), h...)
	binary.LittleEndian.PutUint32(c[16:], 0)
	return crc32.ChecksumIEEE(c)
}

// Parse checks the primary header sector (at least sectorSize bytes; only the first
// sectorSize are the header sector) and its entry array (as read from EntriesLBA).
func Parse(sector, entries []byte, sectorSize int) (*Table, error) {
	if sectorSize < 512 || sectorSize&(sectorSize-1) != 0 {
		return nil, fmt.Errorf("sector size %d: want a power of two of at least 512", sectorSize)
	}
	if len(sector) < sectorSize {
		return nil, fmt.Errorf("GPT header sector: have %d bytes, want %d", len(sector), sectorSize)
	}
	// Exactly one sector: it is written back whole, and more would spill into the next one.
	sector = sector[:sectorSize]
	h, err := ParseHeader(sector)
	if err != nil {
		return nil, err
	}
	if h.MyLBA != 1 {
		return nil, fmt.Errorf("GPT header at LBA %d, want the primary at 1", h.MyLBA)
	}
	n := h.EntriesBytes()
	if len(entries) < n {
		return nil, fmt.Errorf("GPT entries: have %d bytes, want %d", len(entries), n)
	}
	if got, want := crc32.ChecksumIEEE(entries[:n]), binary.LittleEndian.Uint32(sector[88:]); got != want {
		return nil, fmt.Errorf("GPT entries CRC %08x, want %08x", got, want)
	}
	return &Table{SectorSize: sectorSize, Header: h, raw: append([]byte(nil), sector...), entries: append([]byte(nil), entries[:n]...)}, nil
}

// Entries lists the used partition entries.
func (t *Table) Entries() []Entry {
	var out []Entry
	for i := 0; i < int(t.Header.NumEntries); i++ {
		e := t.entries[i*int(t.Header.EntrySize) : (i+1)*int(t.Header.EntrySize)]
		if allZero(e[:16]) {
			continue
		}
		u := make([]uint16, 36)
		for j := range u {
			u[j] = binary.LittleEndian.Uint16(e[56+2*j:])
		}
		if k := indexZero(u); k >= 0 {
			u = u[:k]
		}
		out = append(out, Entry{Index: i + 1, FirstLBA: binary.LittleEndian.Uint64(e[32:]), LastLBA: binary.LittleEndian.Uint64(e[40:]), Name: string(utf16.Decode(u))})
	}
	return out
}

func indexZero(u []uint16) int {
	for i, c := range u {
		if c == 0 {
			return i
		}
	}
	return -1
}

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// Write is one write to the device.
type Write struct {
	Offset int64 // bytes
	Data   []byte
}

// Grow extends partition index (1-based) to the end of a disk of diskSectors sectors, aligned
// down to align sectors, and returns the writes that make it so (backup entries, backup
// header, primary entries, primary header — in that safe order) and the partition's new last
// LBA. It returns no writes when the partition already reaches within align sectors of the
// end. The partition must be the last one on the disk.
func (t *Table) Grow(index int, diskSectors uint64, align uint64) ([]Write, uint64, error) {
	h := t.Header
	if align == 0 {
		align = 1
	}
	var target *Entry
	for _, e := range t.Entries() {
		if e.Index == index {
			e := e
			target = &e
		}
	}
	if target == nil {
		return nil, 0, fmt.Errorf("GPT has no partition %d", index)
	}
	// Every other partition must lie wholly before it: one that follows or overlaps it would
	// be written over.
	for _, e := range t.Entries() {
		if e.Index != index && e.LastLBA >= target.FirstLBA {
			how := "starts after it"
			if e.FirstLBA <= target.LastLBA {
				how = "overlaps it"
			}
			return nil, 0, fmt.Errorf("partition %d is not the last one (partition %d %s)", index, e.Index, how)
		}
	}
	ss := uint64(t.SectorSize)
	entrySectors := (uint64(h.EntriesBytes()) + ss - 1) / ss
	// Written without sums that can overflow: the disk holds the first usable LBA plus the
	// backup entries and header, and the primary entries lie between the header and the first
	// usable LBA (the writes below go there).
	if diskSectors < 2*entrySectors+3 || h.FirstUsable > diskSectors-entrySectors-2 {
		return nil, 0, fmt.Errorf("disk of %d sectors is too small for its GPT", diskSectors)
	}
	if h.EntriesLBA < 2 || entrySectors > h.FirstUsable || h.EntriesLBA > h.FirstUsable-entrySectors {
		return nil, 0, fmt.Errorf("GPT entry array at LBA %d does not lie between the header and the first usable LBA %d", h.EntriesLBA, h.FirstUsable)
	}
	lastUsable := diskSectors - 1 - entrySectors - 1
	newLast := (lastUsable+1)/align*align - 1
	if newLast < target.LastLBA || newLast-target.LastLBA < align {
		return nil, target.LastLBA, nil
	}
	// Entries: new last LBA.
	entries := append([]byte(nil), t.entries...)
	binary.LittleEndian.PutUint64(entries[(index-1)*int(h.EntrySize)+40:], newLast)
	ecrc := crc32.ChecksumIEEE(entries)
	backupLBA := diskSectors - 1
	backupEntriesLBA := backupLBA - entrySectors
	mk := func(my, alt, entriesLBA uint64) []byte {
		s := append([]byte(nil), t.raw...)
		le := binary.LittleEndian
		le.PutUint64(s[24:], my)
		le.PutUint64(s[32:], alt)
		le.PutUint64(s[48:], lastUsable)
		le.PutUint64(s[72:], entriesLBA)
		le.PutUint32(s[88:], ecrc)
		le.PutUint32(s[16:], headerCRC(s[:h.HeaderSize]))
		return s
	}
	primary := mk(1, backupLBA, h.EntriesLBA)
	backup := mk(backupLBA, 1, backupEntriesLBA)
	off := func(lba uint64) int64 { return int64(lba * ss) }
	return []Write{
		{off(backupEntriesLBA), entries},
		{off(backupLBA), backup},
		{off(h.EntriesLBA), entries},
		{off(1), primary},
	}, newLast, nil
}
