// Package cpio writes "newc" (SVR4, no CRC) cpio archives, the format the Linux kernel
// unpacks as an initramfs. Only what an initramfs needs is supported: directories,
// regular files, symlinks and character/block device nodes.
package cpio

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

const magic = "070701"

// Mode type bits as stored in the archive (same values as Linux's S_IF*).
const (
	TypeDir     = 0o040000
	TypeRegular = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
)

// Writer writes a newc archive. Close writes the trailer; the caller closes the
// underlying writer.
type Writer struct {
	w     io.Writer
	ino   uint32
	off   int64
	seen  map[string]bool
	mtime uint32
}

// NewWriter returns a Writer that stamps every entry with mtime (seconds since the epoch);
// a fixed mtime keeps archives reproducible.
func NewWriter(w io.Writer, mtime uint32) *Writer {
	return &Writer{w: w, ino: 300000, seen: map[string]bool{}, mtime: mtime}
}

// Header describes one entry.
type Header struct {
	Name     string // path inside the archive, without a leading "/"
	Mode     uint32 // type bits | permission bits
	UID, GID uint32
	Major    uint32 // for device nodes
	Minor    uint32
}

func clean(name string) string {
	name = path.Clean("/" + name)
	return strings.TrimPrefix(name, "/")
}

func (cw *Writer) write(b []byte) error {
	n, err := cw.w.Write(b)
	cw.off += int64(n)
	return err
}

func (cw *Writer) pad() error {
	if r := cw.off % 4; r != 0 {
		return cw.write(make([]byte, 4-r))
	}
	return nil
}

func (cw *Writer) header(h Header, size int) error {
	cw.ino++
	name := h.Name + "\x00"
	nlink := 1
	if h.Mode&0o170000 == TypeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, cw.ino, h.Mode, h.UID, h.GID, nlink, cw.mtime, size,
		0, 0, h.Major, h.Minor, len(name), 0)
	if err := cw.write([]byte(hdr)); err != nil {
		return err
	}
	if err := cw.write([]byte(name)); err != nil {
		return err
	}
	return cw.pad()
}

// entry writes one entry with its data; parent directories are created as needed (0755).
func (cw *Writer) entry(h Header, data []byte) error {
	h.Name = clean(h.Name)
	if h.Name == "" {
		return nil // the root itself
	}
	if err := cw.parents(h.Name); err != nil {
		return err
	}
	if h.Mode&0o170000 == TypeDir {
		if cw.seen[h.Name] {
			return nil
		}
	}
	cw.seen[h.Name] = true
	if err := cw.header(h, len(data)); err != nil {
		return fmt.Errorf("cpio: header of %s: %w", h.Name, err)
	}
	if err := cw.write(data); err != nil {
		return fmt.Errorf("cpio: data of %s: %w", h.Name, err)
	}
	return cw.pad()
}

func (cw *Writer) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || cw.seen[dir] {
		return nil
	}
	return cw.entry(Header{Name: dir, Mode: TypeDir | 0o755}, nil)
}

// Dir adds a directory.
func (cw *Writer) Dir(name string, perm uint32) error {
	return cw.entry(Header{Name: name, Mode: TypeDir | perm}, nil)
}

// File adds a regular file with the given content.
func (cw *Writer) File(name string, perm uint32, data []byte) error {
	return cw.entry(Header{Name: name, Mode: TypeRegular | perm}, data)
}

// FileFrom adds a regular file read from the host path src, keeping src's permission bits
// unless perm is non-zero.
func (cw *Writer) FileFrom(name, src string, perm uint32) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	if perm == 0 {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("cpio: %w", err)
		}
		perm = uint32(st.Mode().Perm())
	}
	return cw.File(name, perm, data)
}

// Symlink adds a symbolic link name → target.
func (cw *Writer) Symlink(name, target string) error {
	return cw.entry(Header{Name: name, Mode: TypeSymlink | 0o777}, []byte(target))
}

// CharDev adds a character device node.
func (cw *Writer) CharDev(name string, perm, major, minor uint32) error {
	return cw.entry(Header{Name: name, Mode: TypeChar | perm, Major: major, Minor: minor}, nil)
}

// Entry adds an entry described by h with data (for callers that need uid/gid).
func (cw *Writer) Entry(h Header, data []byte) error { return cw.entry(h, data) }

// Close writes the trailer entry.
func (cw *Writer) Close() error {
	if err := cw.header(Header{Name: "TRAILER!!!"}, 0); err != nil {
		return fmt.Errorf("cpio: trailer: %w", err)
	}
	return nil
}
