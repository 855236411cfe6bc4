package ociimage

import (
	"archive/tar"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// FuzzExtractLayer applies two arbitrary layer tars. Whatever they hold, nothing appears
// outside the root, every tree path is clean, and the tree mirrors the disk exactly.
func FuzzExtractLayer(f *testing.F) {
	f.Add(tarBytes(f, dir("d", 0o755), file("d/a", "a", 0o644), symlink("s", "d")),
		tarBytes(f, file("d/.wh.a", "", 0), file("d/.wh..wh..opq", "", 0), file("s/x", "x", 0o644)))
	f.Add(tarBytes(f, file("../x", "x", 0o644)), tarBytes(f, file("/abs", "x", 0o644)))
	f.Add(tarBytes(f, symlink("esc", "../outside"), hardlink("h", "esc")), tarBytes(f, file("esc/keep", "x", 0o644)))
	f.Add(tarBytes(f, file("f", "x", 0o644), hardlink("g", "f"), dir("ro", 0o555), file("ro/y", "y", 0o444)),
		tarBytes(f, file(".wh.f", "", 0), dir("g", 0o700), file("ro/.wh.y", "", 0)))
	f.Add(tarBytes(f, sparse), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("outside"), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(base, "root")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		defer makeWritable(dst)
		root, err := os.OpenRoot(dst)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		x := &extractor{root: root, dst: dst, owned: os.Geteuid() == 0, tree: map[string]*Entry{}}
		var tree []Entry
		if err := x.apply(strings.NewReader(string(a))); err == nil {
			if err := x.apply(strings.NewReader(string(b))); err == nil {
				tr, err := x.finish()
				if err == nil {
					tree = tr.Entries
				}
			}
		}
		if tree == nil {
			for _, e := range x.tree {
				tree = append(tree, *e)
			}
		}
		ents, _ := os.ReadDir(base)
		if len(ents) != 2 {
			t.Fatalf("%d entries next to the root, want root and outside", len(ents))
		}
		if got, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(got) != "outside" {
			t.Fatalf("outside/keep changed: %q %v", got, err)
		}
		if oe, _ := os.ReadDir(outside); len(oe) != 1 {
			t.Fatalf("outside has %d entries", len(oe))
		}
		var want []string
		links := map[string]bool{}
		for _, e := range tree {
			if e.Path == "" || path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || strings.HasPrefix(e.Path, "../") || e.Path == ".." {
				t.Fatalf("unclean tree path %q", e.Path)
			}
			if e.Created {
				want = append(want, e.Path+" "+typeName(e.Type))
			}
			links[e.Path] = e.Type == tar.TypeLink
		}
		sort.Strings(want)
		var got []string
		makeWritable(dst)
		err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == dst {
				return err
			}
			rel, _ := filepath.Rel(dst, p)
			rel = filepath.ToSlash(rel)
			typ := typeName(modeType(d.Type()))
			if links[rel] && (typ == "file" || typ == "symlink") {
				typ = "link" // a hard link shares its target's type
			}
			got = append(got, rel+" "+typ)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("disk and tree differ:\ndisk:\n%s\ntree:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// typeName names an entry type for the disk/tree comparison.
func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeReg:
		return "file"
	case tar.TypeLink:
		return "link"
	}
	return "other:" + string(t)
}

func modeType(m fs.FileMode) byte {
	switch {
	case m.IsDir():
		return tar.TypeDir
	case m&fs.ModeSymlink != 0:
		return tar.TypeSymlink
	case m.IsRegular():
		return tar.TypeReg
	}
	return '?'
}

// makeWritable gives the owner rwx on every directory under dir (read-only image directories
// would stop an unprivileged cleanup).
func makeWritable(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
}
