package ociimage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Format is the on-disk form an image was read from.
type Format string

const (
	FormatDockerArchive Format = "docker-archive" // `docker save` tarball (manifest.json)
	FormatOCILayout     Format = "oci-layout"     // OCI image layout directory
	FormatOCIArchive    Format = "oci-archive"    // tar of an OCI image layout
)

// Options select what Open reads.
type Options struct {
	// Arch is the GOARCH-style architecture to pick from a multi-platform index and to
	// require of the image: "amd64" or "arm64". Empty means the host's (runtime.GOARCH).
	Arch string
}

// Image is a container image read from a local file or directory.
type Image struct {
	Source string // the path given to Open
	Format Format
	Arch   string
	// ID is the digest of the image config (Docker's "IMAGE ID"). It pins the config and,
	// through rootfs.diff_ids, the content of every layer, which Extract verifies; it is the
	// same for one image in all three formats, so it is the cache key.
	ID v1.Hash
	// ManifestDigest is the digest of the image manifest the layout names (zero for a
	// docker save tarball, which has no manifest blob).
	ManifestDigest v1.Hash
	Config         *v1.ConfigFile

	img    v1.Image
	closer io.Closer
}

// maxIndexDepth bounds nested image indexes (a hostile layout could nest them forever).
const maxIndexDepth = 4

// Open reads the image at p: a directory is an OCI image layout; a file is an OCI archive
// when it holds oci-layout and index.json, else a `docker save` tarball (manifest.json).
// It only reads p: there is no registry or daemon access on any path.
func Open(p string, opt Options) (*Image, error) {
	arch := opt.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	if arch != "amd64" && arch != "arm64" {
		return nil, fmt.Errorf("image architecture %q is not supported: use amd64 or arm64", arch)
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", p, err)
	}
	im := &Image{Source: p, Arch: arch}
	if st.IsDir() {
		im.Format = FormatOCILayout
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
			return nil, fmt.Errorf("image %s: a directory must be an OCI image layout (no oci-layout file): save the image with `docker save` or an OCI tool", p)
		}
		idx, err := layout.ImageIndexFromPath(p)
		if err != nil {
			return nil, fmt.Errorf("image %s: reading OCI layout: %w", p, err)
		}
		if err := im.pick(idx); err != nil {
			return nil, err
		}
	} else {
		ar, err := openArchive(p)
		if err != nil {
			return nil, err
		}
		switch {
		case ar.has("oci-layout") && ar.has("index.json"):
			im.Format = FormatOCIArchive
			im.closer = ar
			idx, err := ar.index()
			if err == nil {
				err = im.pick(idx)
			}
			if err != nil {
				ar.Close()
				return nil, err
			}
		case ar.has("manifest.json"):
			ar.Close()
			im.Format = FormatDockerArchive
			if err := im.openDocker(); err != nil {
				return nil, err
			}
		default:
			ar.Close()
			return nil, fmt.Errorf("image %s: not a docker save tarball (no manifest.json) nor an OCI archive (no oci-layout and index.json)", p)
		}
	}
	if err := im.load(); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

// Close releases the file an OCI archive is read from.
func (im *Image) Close() error {
	if im.closer == nil {
		return nil
	}
	err := im.closer.Close()
	im.closer = nil
	return err
}

func (im *Image) openDocker() error {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(im.Source) })
	if err != nil {
		return fmt.Errorf("image %s: reading manifest.json: %w", im.Source, err)
	}
	if len(m) != 1 {
		var tags []string
		for _, d := range m {
			tags = append(tags, strings.Join(d.RepoTags, ","))
		}
		return fmt.Errorf("image %s: the docker save tarball holds %d images (%s): save one image per file", im.Source, len(m), strings.Join(tags, "; "))
	}
	img, err := tarball.ImageFromPath(im.Source, nil)
	if err != nil {
		return fmt.Errorf("image %s: %w", im.Source, err)
	}
	im.img = img
	return nil
}

// load reads and checks the config of the picked image.
func (im *Image) load() error {
	raw, err := im.img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("image %s: reading config: %w", im.Source, err)
	}
	id, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if im.Format != FormatDockerArchive {
		m, err := im.img.Manifest()
		if err != nil {
			return fmt.Errorf("image %s: reading manifest: %w", im.Source, err)
		}
		if m.Config.Digest != id {
			return fmt.Errorf("image %s: config blob has digest %s, manifest says %s: the image is corrupt", im.Source, id, m.Config.Digest)
		}
	}
	im.ID = id
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("image %s: config %s: %w", im.Source, id, err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return fmt.Errorf("image %s: the image is for %s, not linux", im.Source, cfg.OS)
	}
	if cfg.Architecture != "" && cfg.Architecture != im.Arch {
		return fmt.Errorf("image %s: the image is for %s, not %s: build it for %s or ask for --arch %s", im.Source, cfg.Architecture, im.Arch, im.Arch, cfg.Architecture)
	}
	im.Config = cfg
	return nil
}

// pick chooses the image for im.Arch from an index: manifests whose descriptor names a
// platform are matched on it (linux/<arch>); manifests without one (single-image layouts,
// docker save in OCI form) are matched on their config's architecture. Attestation
// manifests (platform unknown/unknown) are ignored.
func (im *Image) pick(idx v1.ImageIndex) error {
	type cand struct {
		desc v1.Descriptor
		idx  v1.ImageIndex
	}
	var withPlat, noPlat []cand
	var walk func(v1.ImageIndex, int) error
	walk = func(ix v1.ImageIndex, depth int) error {
		if depth > maxIndexDepth {
			return fmt.Errorf("image %s: image indexes nested deeper than %d", im.Source, maxIndexDepth)
		}
		m, err := ix.IndexManifest()
		if err != nil {
			return fmt.Errorf("image %s: reading index: %w", im.Source, err)
		}
		for _, d := range m.Manifests {
			switch {
			case d.MediaType.IsIndex():
				sub, err := ix.ImageIndex(d.Digest)
				if err != nil {
					return fmt.Errorf("image %s: index %s: %w", im.Source, d.Digest, err)
				}
				if err := walk(sub, depth+1); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				switch {
				case d.Platform == nil || d.Platform.Architecture == "":
					noPlat = append(noPlat, cand{d, ix})
				case d.Platform.OS == "unknown":
				default:
					withPlat = append(withPlat, cand{d, ix})
				}
			}
		}
		return nil
	}
	if err := walk(idx, 0); err != nil {
		return err
	}
	var match []cand
	var seen []string
	for _, c := range withPlat {
		p := c.desc.Platform
		seen = append(seen, p.OS+"/"+p.Architecture+variant(p.Variant))
		if p.OS == "linux" && p.Architecture == im.Arch {
			match = append(match, c)
		}
	}
	for _, c := range noPlat {
		img, err := c.idx.Image(c.desc.Digest)
		if err != nil {
			return fmt.Errorf("image %s: manifest %s: %w", im.Source, c.desc.Digest, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("image %s: manifest %s: config: %w", im.Source, c.desc.Digest, err)
		}
		seen = append(seen, cfg.OS+"/"+cfg.Architecture)
		if cfg.Architecture == "" || cfg.Architecture == im.Arch {
			match = append(match, c)
		}
	}
	switch {
	case len(match) == 0 && len(seen) == 0:
		return fmt.Errorf("image %s: the index lists no image manifest", im.Source)
	case len(match) == 0:
		return fmt.Errorf("image %s: no linux/%s image (it has %s): ask for another --arch or build the image for %s", im.Source, im.Arch, strings.Join(uniq(seen), ", "), im.Arch)
	}
	// Several distinct manifests for one platform: ambiguous (several tags in one layout).
	first := match[0].desc.Digest
	for _, c := range match[1:] {
		if c.desc.Digest != first {
			return fmt.Errorf("image %s: %d different linux/%s images in one layout: save only the image to try", im.Source, len(match), im.Arch)
		}
	}
	img, err := match[0].idx.Image(first)
	if err != nil {
		return fmt.Errorf("image %s: manifest %s: %w", im.Source, first, err)
	}
	im.img, im.ManifestDigest = img, first
	return nil
}

func variant(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// MetadataJSON is /.easyto/metadata.json as easyto's builder writes it: the image's config
// file (v1.ConfigFile) encoded with encoding/json's Encoder (so with a trailing newline).
func (im *Image) MetadataJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(im.Config); err != nil {
		return nil, fmt.Errorf("image %s: encoding metadata.json: %w", im.Source, err)
	}
	return b.Bytes(), nil
}

// Port is one exposed port of the image config.
type Port struct {
	Number   uint16
	Protocol string // "tcp", "udp" or "sctp"
}

func (p Port) String() string { return strconv.Itoa(int(p.Number)) + "/" + p.Protocol }

// ExposedPorts returns the config's ExposedPorts sorted by number then protocol. A key
// without a protocol is tcp (as Docker reads it); a port range or an unknown protocol is an
// error naming the key.
func (im *Image) ExposedPorts() ([]Port, error) {
	var out []Port
	for k := range im.Config.Config.ExposedPorts {
		num, proto, ok := strings.Cut(k, "/")
		if !ok {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("image %s: ExposedPorts %q: protocol must be tcp, udp or sctp", im.Source, k)
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("image %s: ExposedPorts %q: want PORT[/PROTO] with PORT 1..65535", im.Source, k)
		}
		out = append(out, Port{uint16(n), proto})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].Protocol < out[j].Protocol
	})
	return out, nil
}

// errNotFound marks a blob missing from an archive.
var errNotFound = errors.New("not in the archive")

// tarName normalises an archive member name ("./blobs/x" → "blobs/x").
func tarName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}
