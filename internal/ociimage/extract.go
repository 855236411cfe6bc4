package ociimage

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Entry is one path of the flattened root filesystem, as the image's layers say it should
// be. Ownership and device nodes are recorded here because an unprivileged Extract cannot
// apply them; whoever builds the guest disk from the tree applies them from this list.
type Entry struct {
	Path     string      // slash-separated, relative to the root, never "", "." or with ".."
	Type     byte        // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock or TypeFifo
	Mode     fs.FileMode // permission bits plus setuid/setgid/sticky
	UID, GID int
	Size     int64             // regular files
	Linkname string            // symlink target (verbatim) or hard link target (a tree path; an upper layer may have removed it since, the data stays)
	Devmajor int64             // char/block devices
	Devminor int64             // char/block devices
	Xattrs   map[string]string // from PAX SCHILY.xattr.* records (e.g. security.capability); not applied
	Created  bool              // false for device nodes and fifos, which are recorded only
	Implicit bool              // a parent directory no layer listed (created 0755, 0:0)
	ModTime  time.Time
}

// Tree is the result of Extract.
type Tree struct {
	Root    string
	Entries []Entry // sorted by Path
	// Owned is true when ownership was applied on disk (Extract ran as root); otherwise
	// every file belongs to the caller and UID/GID exist only in Entries.
	Owned bool
}

// ErrUnsafe is wrapped by every error for a layer entry that would write outside the root
// or through a symlink.
var ErrUnsafe = errors.New("unsafe layer entry")

// Extract flattens the image's layers into dst, which must not exist or be an empty
// directory, applying whiteouts (".wh.NAME" removes NAME of lower layers, ".wh..wh..opq"
// hides everything lower layers put in its directory) as a container runtime does.
//
// It never writes outside dst: entries with an absolute path or a ".." component are
// refused, and so is any entry whose parent directory is a symlink (Extract never follows a
// symlink, even one that points inside dst; a real image lists files at their real paths).
// Every layer's uncompressed content is checked against the config's rootfs.diff_ids.
// Device nodes and fifos are recorded in the Tree, not created. On error dst is left for the
// caller to remove.
func (im *Image) Extract(dst string) (*Tree, error) {
	if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("extract %s: %w", dst, err)
	}
	if ents, err := os.ReadDir(dst); err != nil {
		return nil, fmt.Errorf("extract %s: %w", dst, err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("extract %s: the directory is not empty: use a new directory", dst)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", dst, err)
	}
	defer root.Close()
	layers, err := im.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image %s: layers: %w", im.Source, err)
	}
	diffIDs := im.Config.RootFS.DiffIDs
	if len(diffIDs) != len(layers) {
		return nil, fmt.Errorf("image %s: the config lists %d layer diff_ids but the manifest %d layers: the image is corrupt", im.Source, len(diffIDs), len(layers))
	}
	x := &extractor{root: root, dst: dst, owned: os.Geteuid() == 0, tree: map[string]*Entry{}}
	for i, l := range layers {
		if err := x.layer(l, diffIDs[i]); err != nil {
			return nil, fmt.Errorf("image %s: layer %d (%s): %w", im.Source, i+1, diffIDs[i], err)
		}
	}
	return x.finish()
}

type extractor struct {
	root  *os.Root
	dst   string
	owned bool
	tree  map[string]*Entry
	seen  map[string]bool // paths this layer wrote

	removeErr error // from opaque directories
}

func (x *extractor) layer(l v1.Layer, want v1.Hash) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if err := x.apply(io.TeeReader(rc, h)); err != nil {
		return err
	}
	// The tar end marker may be followed by padding the reader never asked for.
	if _, err := io.Copy(io.Discard, io.TeeReader(rc, h)); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != want.String() {
		return fmt.Errorf("content has digest %s, the config says %s: the image is corrupt", got, want)
	}
	return nil
}

// apply applies one uncompressed layer tar.
func (x *extractor) apply(r io.Reader) error {
	tr := tar.NewReader(r)
	x.seen = map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if x.removeErr != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, x.removeErr)
		}
	}
}

// cleanName validates a layer path and returns it relative ("" for the root itself).
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path: the image is malformed or hostile", ErrUnsafe)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: path has a \"..\" component: the image is malformed or hostile", ErrUnsafe)
		}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: path contains a NUL byte", ErrUnsafe)
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	p, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if p == "" {
		return nil // the root directory itself: dst keeps its own mode
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if err := x.parents(dir); err != nil {
		return err
	}
	switch {
	case base == ".wh..wh..opq":
		x.opaque(dir)
		return nil
	case strings.HasPrefix(base, ".wh."):
		name := strings.TrimPrefix(base, ".wh.")
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("%w: whiteout of %q names no file", ErrUnsafe, name)
		}
		target := path.Join(dir, name)
		if x.seen[target] {
			return nil // a whiteout only hides what lower layers put there
		}
		return x.remove(target)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			// A few bytes can describe terabytes of holes; image builders never write these.
			return fmt.Errorf("sparse files are not supported: rebuild the layer without --sparse")
		}
	}
	mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	e := &Entry{Path: p, Type: hdr.Typeflag, Mode: mode, UID: hdr.Uid, GID: hdr.Gid, ModTime: hdr.ModTime, Created: true}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = v
		}
	}
	old := x.tree[p]
	if old != nil && !(old.Type == tar.TypeDir && hdr.Typeflag == tar.TypeDir) {
		if err := x.remove(p); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if old == nil || old.Type != tar.TypeDir {
			// u+rwx until finish, so an unprivileged extract can fill a 0555 directory.
			if err := x.root.Mkdir(p, 0o700); err != nil {
				return err
			}
		}
	case tar.TypeReg: // archive/tar reports old TypeRegA entries as TypeReg
		e.Type, e.Size = tar.TypeReg, hdr.Size
		f, err := x.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		e.Linkname = hdr.Linkname
		if err := x.root.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
	case tar.TypeLink:
		t, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		te := x.tree[t]
		if t == "" || te == nil || te.Type == tar.TypeDir || !te.Created {
			return fmt.Errorf("hard link target %q is not a file extracted before it", hdr.Linkname)
		}
		e.Linkname, e.Size = t, te.Size
		if err := x.root.Link(t, p); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		e.Devmajor, e.Devminor, e.Created = hdr.Devmajor, hdr.Devminor, false
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if e.Created {
		if err := x.own(e); err != nil {
			return err
		}
	}
	x.tree[p], x.seen[p] = e, true
	return nil
}

// own applies ownership (as root) and, for files, the mode and time; directory modes wait for
// finish. chown clears setuid/setgid, so chmod comes after it.
func (x *extractor) own(e *Entry) error {
	if x.owned {
		if err := x.root.Lchown(e.Path, e.UID, e.GID); err != nil {
			return err
		}
	}
	if e.Type == tar.TypeReg {
		if err := x.root.Chmod(e.Path, e.Mode); err != nil {
			return err
		}
		if err := x.root.Chtimes(e.Path, e.ModTime, e.ModTime); err != nil {
			return err
		}
	}
	return nil
}

// parents makes sure every ancestor of an entry is a directory of the tree, creating missing
// ones (as tar does) and refusing symlinks and files. The tree mirrors dst exactly, so no
// path under dst is ever resolved through a symlink.
func (x *extractor) parents(dir string) error {
	if dir == "" {
		return nil
	}
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		e := x.tree[cur]
		switch {
		case e == nil:
			if err := x.root.Mkdir(cur, 0o700); err != nil {
				return err
			}
			x.tree[cur] = &Entry{Path: cur, Type: tar.TypeDir, Mode: 0o755, Created: true, Implicit: true}
			if x.owned {
				if err := x.root.Lchown(cur, 0, 0); err != nil {
					return err
				}
			}
		case e.Type == tar.TypeSymlink:
			return fmt.Errorf("%w: parent %q is a symlink (to %q); extraction never follows symlinks: list the file at its real path", ErrUnsafe, cur, e.Linkname)
		case e.Type != tar.TypeDir:
			return fmt.Errorf("%w: parent %q is not a directory", ErrUnsafe, cur)
		}
	}
	return nil
}

// remove deletes p and everything under it, from dst and the tree.
func (x *extractor) remove(p string) error {
	e := x.tree[p]
	if e == nil {
		return nil
	}
	if e.Created {
		if e.Type == tar.TypeDir {
			// RemoveAll needs to write into the directories it empties; ours are u+rwx.
			if err := x.root.RemoveAll(p); err != nil {
				return err
			}
		} else if err := x.root.Remove(p); err != nil {
			return err
		}
	}
	delete(x.tree, p)
	if e.Type == tar.TypeDir { // only a directory has entries below it: files replace cheaply
		for k := range x.tree {
			if strings.HasPrefix(k, p+"/") {
				delete(x.tree, k)
			}
		}
	}
	return nil
}

// opaque removes what lower layers put under dir, keeping this layer's own entries (and the
// directories leading to them).
func (x *extractor) opaque(dir string) {
	keep := map[string]bool{}
	for k := range x.seen {
		for d := k; d != "." && d != ""; d = path.Dir(d) {
			keep[d] = true
		}
	}
	var drop []string
	for k := range x.tree {
		if (dir == "" || strings.HasPrefix(k, dir+"/")) && !keep[k] {
			drop = append(drop, k)
		}
	}
	sort.Strings(drop) // parents first; remove() of a parent drops its children
	for _, k := range drop {
		if x.tree[k] != nil {
			x.removeErr = errors.Join(x.removeErr, x.remove(k))
		}
	}
}

func (x *extractor) finish() (*Tree, error) {
	t := &Tree{Root: x.dst, Owned: x.owned}
	for _, e := range x.tree {
		t.Entries = append(t.Entries, *e)
	}
	sort.Slice(t.Entries, func(i, j int) bool { return t.Entries[i].Path < t.Entries[j].Path })
	// Directory modes and times last, deepest first: creating children changes a
	// directory's mtime, and a 0555 directory must stay writable until it is full.
	for i := len(t.Entries) - 1; i >= 0; i-- {
		e := t.Entries[i]
		if e.Type != tar.TypeDir {
			continue
		}
		if err := x.root.Chmod(e.Path, e.Mode); err != nil {
			return nil, fmt.Errorf("extract %s: %w", x.dst, err)
		}
		if !e.Implicit {
			if err := x.root.Chtimes(e.Path, e.ModTime, e.ModTime); err != nil {
				return nil, fmt.Errorf("extract %s: %w", x.dst, err)
			}
		}
	}
	return t, nil
}
