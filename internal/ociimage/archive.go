package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// archive is an OCI layout read in place from a tar file: one scan records where each
// regular member's data starts, and blobs are read as sections of the file (no copy).
type archive struct {
	path    string
	f       *os.File
	members map[string]member
}

type member struct{ off, size int64 }

// maxSmallBlob bounds the JSON documents (index, manifests, config) read into memory.
const maxSmallBlob = 16 << 20

func openArchive(p string) (*archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", p, err)
	}
	a := &archive{path: p, f: f, members: map[string]member{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("image %s: not a readable tar file: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar seeks over data on an *os.File, so the file offset after Next is the
		// start of this member's data.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("image %s: %w", p, err)
		}
		a.members[tarName(h.Name)] = member{off, h.Size}
	}
	return a, nil
}

func (a *archive) Close() error { return a.f.Close() }

func (a *archive) has(name string) bool { _, ok := a.members[name]; return ok }

func (a *archive) open(name string) (*io.SectionReader, error) {
	m, ok := a.members[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, errNotFound)
	}
	return io.NewSectionReader(a.f, m.off, m.size), nil
}

func (a *archive) blob(h v1.Hash) (*io.SectionReader, error) {
	return a.open("blobs/" + h.Algorithm + "/" + h.Hex)
}

// bytes reads a small blob and checks its digest.
func (a *archive) bytes(h v1.Hash) ([]byte, error) {
	r, err := a.blob(h)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxSmallBlob {
		return nil, fmt.Errorf("blob %s is %d bytes, more than %d for a manifest or config", h, r.Size(), maxSmallBlob)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if got != h {
		return nil, fmt.Errorf("blob %s has digest %s: the archive is corrupt", h, got)
	}
	return b, nil
}

func (a *archive) index() (v1.ImageIndex, error) {
	r, err := a.open("index.json")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", a.path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxSmallBlob))
	if err != nil {
		return nil, fmt.Errorf("image %s: index.json: %w", a.path, err)
	}
	return newArchiveIndex(a, raw, types.OCIImageIndex)
}

type archiveIndex struct {
	a     *archive
	raw   []byte
	mt    types.MediaType
	parse *v1.IndexManifest
}

func newArchiveIndex(a *archive, raw []byte, mt types.MediaType) (*archiveIndex, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: index: %w", a.path, err)
	}
	if m.MediaType != "" {
		mt = m.MediaType
	}
	return &archiveIndex{a: a, raw: raw, mt: mt, parse: m}, nil
}

func (x *archiveIndex) MediaType() (types.MediaType, error)       { return x.mt, nil }
func (x *archiveIndex) Digest() (v1.Hash, error)                  { return partial.Digest(x) }
func (x *archiveIndex) Size() (int64, error)                      { return partial.Size(x) }
func (x *archiveIndex) IndexManifest() (*v1.IndexManifest, error) { return x.parse.DeepCopy(), nil }
func (x *archiveIndex) RawManifest() ([]byte, error)              { return x.raw, nil }

func (x *archiveIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := x.a.bytes(h)
	if err != nil {
		return nil, err
	}
	return newArchiveIndex(x.a, raw, types.OCIImageIndex)
}

func (x *archiveIndex) Image(h v1.Hash) (v1.Image, error) {
	raw, err := x.a.bytes(h)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	return partial.CompressedToImage(&archiveImage{a: x.a, raw: raw, mt: mt, m: m})
}

// archiveImage is the partial.CompressedImageCore of one manifest in an archive.
type archiveImage struct {
	a   *archive
	raw []byte
	mt  types.MediaType
	m   *v1.Manifest
}

func (i *archiveImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *archiveImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *archiveImage) RawConfigFile() ([]byte, error)      { return i.a.bytes(i.m.Config.Digest) }

func (i *archiveImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &archiveLayer{a: i.a, d: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &archiveLayer{a: i.a, d: d}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in manifest", h)
}

type archiveLayer struct {
	a *archive
	d v1.Descriptor
}

func (l *archiveLayer) Digest() (v1.Hash, error)            { return l.d.Digest, nil }
func (l *archiveLayer) Size() (int64, error)                { return l.d.Size, nil }
func (l *archiveLayer) MediaType() (types.MediaType, error) { return l.d.MediaType, nil }
func (l *archiveLayer) Compressed() (io.ReadCloser, error) {
	r, err := l.a.blob(l.d.Digest)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return nil, fmt.Errorf("layer %s: %w (foreign layers are not fetched)", l.d.Digest, err)
		}
		return nil, err
	}
	return io.NopCloser(r), nil
}
