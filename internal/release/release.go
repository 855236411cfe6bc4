// Package release packs bootplan the way easyto-init ships: a tarball
// bootplan-<version>-linux-<arch>.tar.gz holding one init.tar, whose files easyto's image
// builder unpacks over the AMI's root: ./.easyto/sbin/init (stage one), ./.easyto/bin/bootplan
// (stage two and the CLI) and ./.easyto/sbin/stage2 -> ../bin/bootplan. Every entry is
// root:root with an exact mode and a fixed time, and gzip carries no name or time, so the same
// binaries always give the same bytes.
package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Epoch is the modification time of every entry (reproducible builds: no build time leaks in).
var Epoch = time.Unix(0, 0).UTC()

// Entry is one member of init.tar.
type Entry struct {
	Name     string // relative, "./.easyto/sbin/init"
	Mode     int64  // permission bits
	Dir      bool
	Linkname string // symlink target when not ""
	Data     []byte
}

// InitEntries is the content of init.tar for the two binaries.
func InitEntries(initBin, bootplanBin []byte) []Entry {
	return []Entry{
		{Name: "./", Mode: 0o755, Dir: true},
		{Name: "./.easyto/", Mode: 0o755, Dir: true},
		{Name: "./.easyto/bin/", Mode: 0o755, Dir: true},
		{Name: "./.easyto/bin/bootplan", Mode: 0o755, Data: bootplanBin},
		{Name: "./.easyto/sbin/", Mode: 0o755, Dir: true},
		{Name: "./.easyto/sbin/init", Mode: 0o755, Data: initBin},
		{Name: "./.easyto/sbin/stage2", Mode: 0o777, Linkname: "../bin/bootplan"},
	}
}

// Tar writes entries as a POSIX (USTAR/PAX) tar, in the given order.
func Tar(entries []Entry) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, ModTime: Epoch, Uid: 0, Gid: 0, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		switch {
		case e.Dir:
			h.Typeflag = tar.TypeDir
		case e.Linkname != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Linkname
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("release: %s: %w", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("release: %s: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Archive is the release tarball: a gzipped tar with the one member init.tar.
func Archive(initBin, bootplanBin []byte) ([]byte, error) {
	inner, err := Tar(InitEntries(initBin, bootplanBin))
	if err != nil {
		return nil, err
	}
	outer, err := Tar([]Entry{{Name: "init.tar", Mode: 0o644, Data: inner}})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = time.Time{} // no time in the gzip header
	if _, err := zw.Write(outer); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Name is the release file name for a version and architecture.
func Name(version, arch string) string {
	return fmt.Sprintf("bootplan-%s-linux-%s.tar.gz", version, arch)
}

// ReadInit opens a release tarball and returns the entries of its init.tar, as an image
// builder unpacks them.
func ReadInit(archive []byte) ([]Entry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	outer := tar.NewReader(zr)
	for {
		h, err := outer.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("release: no init.tar in the archive")
		}
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		if h.Name != "init.tar" {
			continue
		}
		return readEntries(tar.NewReader(outer))
	}
}

func readEntries(tr *tar.Reader) ([]Entry, error) {
	var out []Entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("release: init.tar: %w", err)
		}
		clean := path.Clean(h.Name)
		if strings.HasPrefix(clean, "..") || path.IsAbs(clean) {
			return nil, fmt.Errorf("release: init.tar: entry %q leaves the root", h.Name)
		}
		if h.Uid != 0 || h.Gid != 0 {
			return nil, fmt.Errorf("release: init.tar: %s is owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		e := Entry{Name: h.Name, Mode: h.Mode}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Dir = true
		case tar.TypeSymlink:
			e.Linkname = h.Linkname
		case tar.TypeReg:
			if e.Data, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("release: init.tar: %s: %w", h.Name, err)
			}
		default:
			return nil, fmt.Errorf("release: init.tar: %s: unexpected entry type %q", h.Name, h.Typeflag)
		}
		out = append(out, e)
	}
}
