package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A `docker save` tarball as Docker before 25 writes it, by hand: uncompressed layer.tar
// files, <id>.json config, manifest.json. (go-containerregistry's writer gzips layers.)
func TestLegacyDockerSave(t *testing.T) {
	l1 := tarBytes(t, dir("etc", 0o755), file("etc/hostname", "legacy\n", 0o644), file("gone", "x", 0o644))
	l2 := tarBytes(t, file(".wh.gone", "", 0), file("etc/added", "2\n", 0o600))
	d1, _, _ := v1.SHA256(bytes.NewReader(l1))
	d2, _, _ := v1.SHA256(bytes.NewReader(l2))
	cfg := v1.ConfigFile{Architecture: "amd64", OS: "linux",
		Config: v1.Config{Cmd: []string{"/bin/sh"}, ExposedPorts: map[string]struct{}{"443/tcp": {}}},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{d1, d2}}}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := v1.SHA256(bytes.NewReader(rawCfg))
	manifest := fmt.Sprintf(`[{"Config":"%s.json","RepoTags":["legacy:1"],"Layers":["a/layer.tar","b/layer.tar"]}]`, id.Hex)
	p := filepath.Join(t.TempDir(), "legacy.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, m := range []struct {
		name string
		body []byte
	}{{"a/layer.tar", l1}, {"b/layer.tar", l2}, {id.Hex + ".json", rawCfg}, {"manifest.json", []byte(manifest)}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	im, err := Open(p, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if im.Format != FormatDockerArchive || im.ID != id {
		t.Errorf("Format %s ID %s, want docker-archive %s", im.Format, im.ID, id)
	}
	if ports, err := im.ExposedPorts(); err != nil || portStrings(ports) != "443/tcp" {
		t.Errorf("ports %v %v", ports, err)
	}
	dst := filepath.Join(t.TempDir(), "root")
	if _, err := im.Extract(dst); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 {
		uid, gid = 0, 0
	}
	diffLines(t, "legacy tree", listTree(t, dst), []string{
		`etc drwxr-xr-x ` + fmt.Sprintf("%d:%d", uid, gid),
		`etc/added -rw------- ` + fmt.Sprintf("%d:%d", uid, gid) + ` "2\n"`,
		`etc/hostname -rw-r--r-- ` + fmt.Sprintf("%d:%d", uid, gid) + ` "legacy\n"`,
	})

	// Two images in one save: refused, naming them.
	two := filepath.Join(t.TempDir(), "two.tar")
	f, _ = os.Create(two)
	tw = tar.NewWriter(f)
	m2 := fmt.Sprintf(`[{"Config":"%[1]s.json","RepoTags":["a:1"],"Layers":[]},{"Config":"%[1]s.json","RepoTags":["b:2"],"Layers":[]}]`, id.Hex)
	_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(m2)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(m2))
	_ = tw.Close()
	_ = f.Close()
	if _, err := Open(two, Options{Arch: "amd64"}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("holds 2 images (a:1; b:2)")) {
		t.Errorf("two images: %v", err)
	}
}
