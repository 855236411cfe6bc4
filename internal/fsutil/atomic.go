// Package fsutil holds the one atomic file write both stages and the CLI use.
package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// FS is what an atomic write needs from a filesystem: *os.Root has it (the sandbox host's
// directory), and OS is the machine's.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Open(name string) (*os.File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// OS is the machine's filesystem, paths as given.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osFS) Open(name string) (*os.File, error)   { return os.Open(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }

// WriteAtomic writes data to p on the machine so that p holds either its old content or all
// of data, never a part: a temporary file in the same directory is written, fsynced, given
// perm (exactly, whatever the umask) and the owner uid:gid (-1 keeps one), renamed over p,
// and the directory is fsynced. Parents are not created. Errors read "write <p>: ...".
func WriteAtomic(p string, data []byte, perm fs.FileMode, uid, gid int) error {
	if err := WriteAtomicIn(OS, filepath.Clean(p), data, perm, uid, gid); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// WriteAtomicIn is WriteAtomic within fsys (p is a name fsys accepts, slash-separated) and
// returns the underlying error unwrapped.
func WriteAtomicIn(fsys FS, p string, data []byte, perm fs.FileMode, uid, gid int) error {
	dir, base := path.Split(p)
	tmp := dir + "." + base + ".tmp"
	if dir == "" {
		dir = "."
	}
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if werr == nil {
		werr = f.Chmod(perm.Perm())
	}
	if werr == nil && (uid >= 0 || gid >= 0) {
		werr = f.Chown(uid, gid)
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
	if d, err := fsys.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
