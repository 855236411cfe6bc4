// Package fsutil holds the one file writer both stages and the CLI use.
//
// PID 1 writes files into directories the workload may own (an S3 volume's tree), so the
// workload may have planted anything at any name there beforehand: a hard link to a root
// file, a symlink, a FIFO. The writer therefore never opens an existing name for writing: it
// creates a new file under an unpredictable name with O_EXCL|O_NOFOLLOW (which fails on
// anything already there, a dangling symlink included), checks what it opened is the
// regular, singly linked file it just made, writes and sets mode and owner through that file
// descriptor only, and renames it over the destination. A rename replaces the name, never the
// inode behind it, so a planted hard link at the destination loses its name and the file it
// pointed to is left exactly as it was.
package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// FS is what an atomic write needs from a filesystem: *os.Root has it (the sandbox host's
// directory, and the directory of the destination on the machine).
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Lstat(name string) (fs.FileInfo, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// WriteAtomic writes data to p on the machine so that p holds either its old content or all
// of data, never a part: a new temporary file in the same directory is written, given the
// owner uid:gid (-1 keeps one) and perm (exactly, whatever the umask, setuid/setgid/sticky
// included), fsynced, renamed over p, and the directory is fsynced. Every step after the
// directory is opened acts on that one directory handle, so a directory swapped in the
// meantime cannot redirect the write. Parents are not created. Errors read "write <p>: ...".
func WriteAtomic(p string, data []byte, perm fs.FileMode, uid, gid int) error {
	p = filepath.Clean(p)
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	d, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer d.Close()
	if err := WriteAtomicIn(d, base, data, perm, uid, gid); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// tempAttempts bounds the retries when a random temporary name is taken (planted names
// cannot be guessed; a collision is astronomically unlikely, but never loop for ever).
const tempAttempts = 8

// TempName returns an unpredictable temporary name for base in the same directory:
// ".<base>.<32 hex digits>.tmp", with base shortened so the name fits NAME_MAX.
func TempName(base string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (getrandom)
	if len(base) > 200 {
		base = base[:200]
	}
	return "." + base + "." + hex.EncodeToString(b[:]) + ".tmp"
}

// ErrNotReplaceable is returned when the destination is a directory or a device node: a
// regular file never takes the place of either.
var ErrNotReplaceable = errors.New("not a regular file: refusing to replace it")

// WriteAtomicIn is WriteAtomic within fsys (p is a name fsys accepts, slash-separated) and
// returns the underlying error unwrapped.
func WriteAtomicIn(fsys FS, p string, data []byte, perm fs.FileMode, uid, gid int) error {
	dir, base := path.Split(p)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("%q names no file", p)
	}
	if fi, err := fsys.Lstat(p); err == nil {
		switch t := fi.Mode().Type(); {
		case t&(fs.ModeDir|fs.ModeDevice|fs.ModeCharDevice) != 0:
			return fmt.Errorf("%s is a %s: %w", p, kind(fi.Mode()), ErrNotReplaceable)
		}
		// A regular file, symlink, FIFO or socket: its name is replaced, what it points to
		// or holds is never opened.
	}
	var (
		f   *os.File
		tmp string
		err error
	)
	for range tempAttempts {
		tmp = dir + TempName(base)
		// O_EXCL: fails on any existing name, symlinks included (never followed); O_NONBLOCK:
		// never waits on a FIFO, whatever happens.
		f, err = fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	werr := checkFresh(f)
	if werr == nil {
		_, werr = f.Write(data)
	}
	// Owner first: chown by root clears setuid/setgid on a regular file, so chmod comes after.
	if werr == nil && (uid >= 0 || gid >= 0) {
		werr = f.Chown(uid, gid)
	}
	if werr == nil {
		werr = f.Chmod(perm & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = fsys.Rename(tmp, p)
	}
	if werr != nil {
		_ = fsys.Remove(tmp)
		return werr
	}
	if dir == "" {
		dir = "."
	}
	if d, err := fsys.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// checkFresh makes sure f is the file O_EXCL just created: a regular file with one link,
// owned by this process's effective uid.
func checkFresh(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("temporary file %s is a %s, not the file just created", f.Name(), kind(fi.Mode()))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Nlink != 1 {
			return fmt.Errorf("temporary file %s has %d links, not the file just created", f.Name(), st.Nlink)
		}
		if int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("temporary file %s is owned by uid %d, not by this process (uid %d)", f.Name(), st.Uid, os.Geteuid())
		}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	case t == 0:
		return "regular file"
	}
	return "special file"
}
