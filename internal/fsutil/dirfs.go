package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dirFS is an FS over one open directory: every name is a single component looked up in that
// directory (openat, renameat, ...), so nothing can redirect the operations elsewhere once the
// directory is open.
type dirFS struct {
	fd   int
	name string // for messages
}

func openDir(p string) (*dirFS, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return &dirFS{fd: fd, name: p}, nil
}

func (d *dirFS) Close() error { return unix.Close(d.fd) }

func (d *dirFS) join(name string) string { return path.Join(d.name, name) }

func (d *dirFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := unix.Openat(d.fd, name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.join(name), Err: err}
	}
	return os.NewFile(uintptr(fd), d.join(name)), nil
}

func (d *dirFS) Lstat(name string) (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: d.join(name), Err: err}
	}
	return statInfo{name: name, st: st}, nil
}

func (d *dirFS) Rename(oldname, newname string) error {
	if err := unix.Renameat(d.fd, oldname, d.fd, newname); err != nil {
		return &os.LinkError{Op: "rename", Old: d.join(oldname), New: d.join(newname), Err: err}
	}
	return nil
}

func (d *dirFS) Remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.join(name), Err: err}
	}
	return nil
}

// statInfo is an fs.FileInfo from fstatat.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return &s.st }
func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ErrSymlinkInPath is returned by WriteBeneath for a symlink (or anything not a directory)
// where a directory of rel should be.
var ErrSymlinkInPath = errors.New("is a symlink or not a directory: refusing to follow it")

// WriteBeneath writes base/rel like WriteAtomic, except that no component of rel is ever
// followed as a symlink, even one planted while the write is under way: base is opened by
// path, then each directory of rel is opened with O_NOFOLLOW relative to the one before
// (a missing one is created 0755 and given dirUID:dirGID through its own descriptor), and the
// file is written in the last one. rel is slash-separated, relative, without "." or "..".
// It returns the directories it created (as base/...), outermost first. Errors read
// "write base/rel: ...".
func WriteBeneath(base, rel string, data []byte, perm fs.FileMode, uid, gid, dirUID, dirGID int) (created []string, err error) {
	full := path.Join(base, rel)
	fail := func(err error) ([]string, error) { return created, fmt.Errorf("write %s: %w", full, err) }
	comps := strings.Split(rel, "/")
	for _, c := range comps {
		if c == "" || c == "." || c == ".." {
			return fail(fmt.Errorf("%q is not a plain relative path", rel))
		}
	}
	d, err := openDir(base)
	if err != nil {
		return fail(err)
	}
	defer func() { d.Close() }()
	for _, c := range comps[:len(comps)-1] {
		sub := path.Join(d.name, c)
		made := false
		if err := unix.Mkdirat(d.fd, c, 0o755); err == nil {
			made = true
		} else if !errors.Is(err, unix.EEXIST) {
			return fail(&fs.PathError{Op: "mkdir", Path: sub, Err: err})
		}
		fd, err := unix.Openat(d.fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fail(fmt.Errorf("%s %w", sub, ErrSymlinkInPath))
		}
		if err != nil {
			return fail(&fs.PathError{Op: "open", Path: sub, Err: err})
		}
		d.Close()
		d = &dirFS{fd: fd, name: sub}
		if made {
			created = append(created, sub)
			// Through the descriptor: the name may already point elsewhere. Owner first
			// (chown may clear mode bits), then the exact mode whatever the umask.
			if dirUID >= 0 || dirGID >= 0 {
				if err := unix.Fchown(fd, dirUID, dirGID); err != nil {
					return fail(&fs.PathError{Op: "chown", Path: sub, Err: err})
				}
			}
			if err := unix.Fchmod(fd, 0o755); err != nil {
				return fail(&fs.PathError{Op: "chmod", Path: sub, Err: err})
			}
		}
	}
	if err := WriteAtomicIn(d, comps[len(comps)-1], data, perm, uid, gid); err != nil {
		return fail(err)
	}
	return created, nil
}
