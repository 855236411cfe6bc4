package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// te is one tar entry of a test layer.
type te struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	pax      map[string]string
	rawPAX   string // PAX records written as a hand-made 'x' header (the Writer drops GNU.sparse.*)
}

func dir(n string, mode int64) te { return te{name: n, typ: tar.TypeDir, mode: mode} }
func file(n, body string, mode int64) te {
	return te{name: n, typ: tar.TypeReg, mode: mode, body: body}
}
func symlink(n, to string) te  { return te{name: n, typ: tar.TypeSymlink, mode: 0o777, link: to} }
func hardlink(n, to string) te { return te{name: n, typ: tar.TypeLink, mode: 0o644, link: to} }

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func tarBytes(t testing.TB, ents ...te) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: mtime, PAXRecords: e.pax, Format: tar.FormatPAX}
		if e.rawPAX != "" {
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			b.Write(paxBlock(t, e.rawPAX))
			h.Format = tar.FormatUSTAR
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// layer is a gzip-compressed layer (as docker and buildkit write them).
func layer(t *testing.T, ents ...te) v1.Layer {
	t.Helper()
	b := tarBytes(t, ents...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, arch string, c v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, c
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The three on-disk forms.

func saveDocker(t *testing.T, img v1.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "docker.tar")
	// The registry in the tag does not resolve: nothing may try to contact it.
	if err := tarball.WriteToFile(p, name.MustParseReference("registry.invalid/try/app:1"), img); err != nil {
		t.Fatal(err)
	}
	return p
}

func saveLayout(t *testing.T, adds ...mutate.IndexAddendum) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(p, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range adds {
		switch x := a.Add.(type) {
		case v1.Image:
			var opts []layout.Option
			if a.Platform != nil {
				opts = append(opts, layout.WithPlatform(*a.Platform))
			}
			if a.Annotations != nil {
				opts = append(opts, layout.WithAnnotations(a.Annotations))
			}
			err = lp.AppendImage(x, opts...)
		case v1.ImageIndex:
			err = lp.AppendIndex(x)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// saveArchive tars an OCI layout directory ("./"-prefixed names, as skopeo and buildx write).
func saveArchive(t *testing.T, layoutDir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "oci.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(layoutDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == layoutDir {
			return err
		}
		rel, _ := filepath.Rel(layoutDir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = "./" + filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// listTree describes what is on disk under root, one line per path, without following
// symlinks: "path type mode uid:gid [sha256-prefix|-> target]".
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := owner(fi)
		line := fmt.Sprintf("%s %s %d:%d", filepath.ToSlash(rel), fi.Mode(), uid, gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			line += " -> " + to
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", string(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func emptyIndex() v1.ImageIndex { return empty.Index }

// paxRecord encodes one PAX record ("LEN key=value\n", LEN counting itself).
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s) + 1
	for len(fmt.Sprint(n))+len(s) != n {
		n++
	}
	return fmt.Sprint(n) + s
}

// paxBlock is a PAX extended header ('x') holding recs, which archive/tar refuses to write
// by hand: a USTAR file header with the type and checksum patched.
func paxBlock(t testing.TB, recs string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(recs)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, recs); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	out[156] = tar.TypeXHeader
	copy(out[148:156], "        ")
	sum := 0
	for _, c := range out[:512] {
		sum += int(c)
	}
	copy(out[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return out
}
