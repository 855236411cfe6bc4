package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
const group = "root:x:0:\napp:x:1000:\n"

var appConfig = v1.Config{
	Entrypoint:   []string{"/bin/app"},
	Cmd:          []string{"serve", "--port", "8080"},
	Env:          []string{"PATH=/usr/bin:/bin", "GREETING=hi=there"},
	User:         "app",
	WorkingDir:   "/srv/www",
	ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}, "9000": {}},
}

// testImage has three layers exercising whiteouts, an opaque directory, links and modes.
func testImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	l1 := layer(t,
		dir("etc", 0o755),
		file("etc/passwd", passwd, 0o644),
		file("etc/group", group, 0o644),
		dir("bin/", 0o755),
		file("./bin/app", "#!/bin/sh\necho app\n", 0o755),
		symlink("bin/sh", "app"),
		hardlink("bin/app2", "bin/app"),
		te{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, body: "su"},
		file("old/gone", "lower", 0o644), // parent "old" is implicit
		file("old/stays", "kept", 0o600),
		dir("data", 0o750),
		file("data/a", "a", 0o644),
		dir("data/sub", 0o755),
		file("data/sub/b", "b", 0o644),
		dir("srv", 0o755),
		dir("srv/www", 0o755),
		te{name: "home/app/.profile", typ: tar.TypeReg, mode: 0o640, uid: 1000, gid: 1000, body: "export A=1\n"},
		dir("ro", 0o555),
		file("ro/f", "read only", 0o444),
		te{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		file("swap", "file first", 0o644),
		dir("lib", 0o555), // read-only and kept: must still be fillable
		file("lib/x", "x", 0o444),
	)
	l2 := layer(t,
		file("old/.wh.gone", "", 0o644),
		dir("data", 0o755),
		file("data/.wh..wh..opq", "", 0o644),
		file("data/c", "c", 0o644),
		te{name: "etc/motd", typ: tar.TypeReg, mode: 0o644, body: "hello\n",
			pax: map[string]string{"SCHILY.xattr.user.note": "x"}},
		dir("swap", 0o700), // a file replaced by a directory
		file("swap/inner", "now a dir", 0o644),
		file("bin/sh", "#!/bin/app\n", 0o755), // a symlink replaced by a file
	)
	l3 := layer(t,
		file(".wh.ro", "", 0o644), // a whole directory whited out
		file("srv/www/index.html", "<h1>hi</h1>\n", 0o644),
	)
	return image(t, arch, appConfig, l1, l2, l3)
}

var wantTree = []string{
	`bin drwxr-xr-x 0:0`,
	`bin/app -rwxr-xr-x 0:0 "#!/bin/sh\necho app\n"`,
	`bin/app2 -rwxr-xr-x 0:0 "#!/bin/sh\necho app\n"`,
	`bin/sh -rwxr-xr-x 0:0 "#!/bin/app\n"`,
	`bin/su urwxr-xr-x 0:0 "su"`,
	`data drwxr-xr-x 0:0`,
	`data/c -rw-r--r-- 0:0 "c"`,
	`dev drwxr-xr-x 0:0`,
	`etc drwxr-xr-x 0:0`,
	`etc/group -rw-r--r-- 0:0 "root:x:0:\napp:x:1000:\n"`,
	`etc/motd -rw-r--r-- 0:0 "hello\n"`,
	`etc/passwd -rw-r--r-- 0:0 "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"`,
	`home drwxr-xr-x 0:0`,
	`home/app drwxr-xr-x 0:0`,
	`home/app/.profile -rw-r----- 1000:1000 "export A=1\n"`,
	`lib dr-xr-xr-x 0:0`,
	`lib/x -r--r--r-- 0:0 "x"`,
	`old drwxr-xr-x 0:0`,
	`old/stays -rw------- 0:0 "kept"`,
	`srv drwxr-xr-x 0:0`,
	`srv/www drwxr-xr-x 0:0`,
	`srv/www/index.html -rw-r--r-- 0:0 "<h1>hi</h1>\n"`,
	`swap drwx------ 0:0`,
	`swap/inner -rw-r--r-- 0:0 "now a dir"`,
}

// formats saves img in the three forms Open reads.
func formats(t *testing.T, img v1.Image) map[Format]string {
	t.Helper()
	lay := saveLayout(t, mutate.IndexAddendum{Add: img})
	return map[Format]string{
		FormatDockerArchive: saveDocker(t, img),
		FormatOCILayout:     lay,
		FormatOCIArchive:    saveArchive(t, lay),
	}
}

func TestOpenExtractAllFormats(t *testing.T) {
	img := testImage(t, "amd64")
	wantID, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	wantManifest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		t.Fatal(err)
	}
	var wantMeta bytes.Buffer
	if err := json.NewEncoder(&wantMeta).Encode(cf); err != nil {
		t.Fatal(err)
	}
	for format, p := range formats(t, img) {
		t.Run(string(format), func(t *testing.T) {
			im, err := Open(p, Options{Arch: "amd64"})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if im.Format != format {
				t.Errorf("Format = %s, want %s", im.Format, format)
			}
			if im.ID != wantID {
				t.Errorf("ID = %s, want %s (the config digest, same in every format)", im.ID, wantID)
			}
			switch format {
			case FormatDockerArchive:
				if im.ManifestDigest != (v1.Hash{}) {
					t.Errorf("ManifestDigest = %s, want none for docker save", im.ManifestDigest)
				}
			default:
				if im.ManifestDigest != wantManifest {
					t.Errorf("ManifestDigest = %s, want %s", im.ManifestDigest, wantManifest)
				}
			}
			meta, err := im.MetadataJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(meta, wantMeta.Bytes()) {
				t.Errorf("metadata.json:\n%s\nwant:\n%s", meta, wantMeta.Bytes())
			}
			ports, err := im.ExposedPorts()
			if err != nil {
				t.Fatal(err)
			}
			if got := portStrings(ports); got != "53/udp 8080/tcp 9000/tcp" {
				t.Errorf("ExposedPorts = %s", got)
			}

			dst := filepath.Join(t.TempDir(), "root")
			tree, err := im.Extract(dst)
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, "tree on disk", listTree(t, dst), wantTree)
			checkEntries(t, tree)
			if tree.Owned != (os.Geteuid() == 0) {
				t.Errorf("Owned = %v as uid %d", tree.Owned, os.Geteuid())
			}
		})
	}
}

func portStrings(ps []Port) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

// checkEntries checks what the Tree records beyond the disk: device nodes, ownership,
// hard links, xattrs, implicit parents.
func checkEntries(t *testing.T, tree *Tree) {
	t.Helper()
	by := map[string]Entry{}
	for _, e := range tree.Entries {
		by[e.Path] = e
	}
	if len(by) != len(wantTree)+1 {
		t.Errorf("%d entries, want %d (the disk tree plus dev/null)", len(by), len(wantTree)+1)
	}
	if e := by["dev/null"]; e.Type != tar.TypeChar || e.Created || e.Mode != 0o666 {
		t.Errorf("dev/null = %+v, want a recorded, not created, char device 0666", e)
	}
	if e := by["home/app/.profile"]; e.UID != 1000 || e.GID != 1000 {
		t.Errorf("home/app/.profile owner %d:%d, want 1000:1000", e.UID, e.GID)
	}
	if e := by["bin/app2"]; e.Type != tar.TypeLink || e.Linkname != "bin/app" {
		t.Errorf("bin/app2 = %+v, want a hard link to bin/app", e)
	}
	if e := by["bin/su"]; e.Mode != 0o755|os.ModeSetuid {
		t.Errorf("bin/su mode %v, want setuid 0755", e.Mode)
	}
	if e := by["etc/motd"]; !reflect.DeepEqual(e.Xattrs, map[string]string{"user.note": "x"}) {
		t.Errorf("etc/motd xattrs %v", e.Xattrs)
	}
	if e := by["old"]; !e.Implicit || e.Mode != 0o755 {
		t.Errorf("old = %+v, want an implicit 0755 directory", e)
	}
	if e := by["data"]; e.Implicit || e.Mode != 0o755 {
		t.Errorf("data = %+v, want the upper layer's 0755", e)
	}
	for _, gone := range []string{"old/gone", "data/a", "data/sub", "data/sub/b", "ro", "ro/f"} {
		if _, ok := by[gone]; ok {
			t.Errorf("%s is in the tree, want it whited out", gone)
		}
	}
}

func TestHardLinkSharesInode(t *testing.T) {
	im := openOne(t, testImage(t, "amd64"))
	dst := filepath.Join(t.TempDir(), "root")
	if _, err := im.Extract(dst); err != nil {
		t.Fatal(err)
	}
	a, err1 := os.Stat(filepath.Join(dst, "bin/app"))
	b, err2 := os.Stat(filepath.Join(dst, "bin/app2"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !os.SameFile(a, b) {
		t.Error("bin/app2 is not a hard link of bin/app")
	}
}

func openOne(t *testing.T, img v1.Image) *Image {
	t.Helper()
	im, err := Open(saveLayout(t, mutate.IndexAddendum{Add: img}), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

func TestMetadataOmitsEmptyUserAndWorkingDir(t *testing.T) {
	img := image(t, "amd64", v1.Config{Cmd: []string{"/bin/true"}}, layer(t, file("bin/true", "", 0o755)))
	im := openOne(t, img)
	meta, err := im.MetadataJSON()
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(meta, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"User", "WorkingDir", "Entrypoint"} {
		if _, ok := raw.Config[k]; ok {
			t.Errorf("metadata.json has config.%s, want it absent (easyto's omitempty): %s", k, meta)
		}
	}
	if !bytes.HasSuffix(meta, []byte("}\n")) {
		t.Errorf("metadata.json does not end in a newline as json.Encoder writes it: %q", meta)
	}
	if ports, err := im.ExposedPorts(); err != nil || len(ports) != 0 {
		t.Errorf("ExposedPorts = %v, %v; want none", ports, err)
	}
}

func TestExposedPortsErrors(t *testing.T) {
	for _, k := range []string{"80-90/tcp", "0/tcp", "70000", "80/quic", "http"} {
		im := &Image{Source: "x", Config: &v1.ConfigFile{Config: v1.Config{ExposedPorts: map[string]struct{}{k: {}}}}}
		if _, err := im.ExposedPorts(); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("ExposedPorts %q: err = %v, want one naming the key", k, err)
		}
	}
}

func platformImage(t *testing.T, arch string) (v1.Image, mutate.IndexAddendum) {
	img := image(t, arch, v1.Config{Cmd: []string{"/" + arch}}, layer(t, file(arch, arch, 0o644)))
	return img, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
		Platform: &v1.Platform{OS: "linux", Architecture: arch}}}
}

func TestPlatformSelection(t *testing.T) {
	amd, amdAdd := platformImage(t, "amd64")
	arm, armAdd := platformImage(t, "arm64")
	// An attestation manifest, as buildx adds: platform unknown/unknown, never picked.
	att := image(t, "", v1.Config{}, layer(t, file("sbom", "{}", 0o644)))
	attAdd := mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}}
	multi := mutate.AppendManifests(mutate.IndexMediaType(emptyIndex(), types.OCIImageIndex), amdAdd, armAdd, attAdd)
	lay := saveLayout(t, mutate.IndexAddendum{Add: multi}) // nested: index.json → index → images
	for _, p := range []string{lay, saveArchive(t, lay)} {
		for arch, img := range map[string]v1.Image{"amd64": amd, "arm64": arm} {
			im, err := Open(p, Options{Arch: arch})
			if err != nil {
				t.Fatalf("%s %s: %v", p, arch, err)
			}
			want, _ := img.Digest()
			if im.ManifestDigest != want || im.Config.Architecture != arch {
				t.Errorf("%s: picked %s (%s), want %s", arch, im.ManifestDigest, im.Config.Architecture, want)
			}
			im.Close()
		}
	}
	// Only amd64: asking for arm64 names what there is.
	only := saveLayout(t, amdAdd, attAdd)
	for _, p := range []string{only, saveArchive(t, only)} {
		_, err := Open(p, Options{Arch: "arm64"})
		if err == nil || !strings.Contains(err.Error(), "no linux/arm64 image (it has linux/amd64)") {
			t.Errorf("Open arm64 of an amd64-only index: %v", err)
		}
	}
	// docker save of an arm64 image, asked for amd64: refused on the config's architecture.
	if _, err := Open(saveDocker(t, arm), Options{Arch: "amd64"}); err == nil || !strings.Contains(err.Error(), "the image is for arm64, not amd64") {
		t.Errorf("Open amd64 of an arm64 docker save: %v", err)
	}
	if _, err := Open(only, Options{Arch: "s390x"}); err == nil || !strings.Contains(err.Error(), "use amd64 or arm64") {
		t.Errorf("Open s390x: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	d := t.TempDir()
	notLayout := filepath.Join(d, "plain")
	if err := os.Mkdir(notLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	notImage := filepath.Join(d, "x.tar")
	if err := os.WriteFile(notImage, tarBytes(t, file("hello", "x", 0o644)), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(d, "garbage")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a tar ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		notLayout:                       "no oci-layout file",
		notImage:                        "not a docker save tarball",
		garbage:                         "not a readable tar file",
		filepath.Join(d, "nonexistent"): "no such file",
	} {
		if _, err := Open(p, Options{Arch: "amd64"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open %s: err = %v, want %q", filepath.Base(p), err, want)
		}
	}
}

func TestCorruptionDetected(t *testing.T) {
	img := testImage(t, "amd64")
	cfgName, _ := img.ConfigName()
	// A config blob that does not match the manifest.
	lay := saveLayout(t, mutate.IndexAddendum{Add: img})
	cfgPath := filepath.Join(lay, "blobs", "sha256", cfgName.Hex)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(b, []byte("/bin/app"), []byte("/bin/evl"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(lay, Options{Arch: "amd64"}); err == nil || !strings.Contains(err.Error(), "the image is corrupt") {
		t.Errorf("tampered config: %v", err)
	}
	// A layer blob replaced by another valid layer: caught by the diff_id check.
	lay = saveLayout(t, mutate.IndexAddendum{Add: img})
	ls, _ := img.Layers()
	d, _ := ls[2].Digest()
	other, _ := layer(t, file("srv/www/index.html", "<h1>evil</h1>\n", 0o644)).Compressed()
	ob := readAll(t, other)
	if err := os.WriteFile(filepath.Join(lay, "blobs", "sha256", d.Hex), ob, 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := Open(lay, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = im.Extract(filepath.Join(t.TempDir(), "root"))
	if err == nil || !strings.Contains(err.Error(), "layer 3") || !strings.Contains(err.Error(), "the image is corrupt") {
		t.Errorf("tampered layer: %v", err)
	}
}

func TestExtractNeedsEmptyDir(t *testing.T) {
	im := openOne(t, testImage(t, "amd64"))
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Extract(dst); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Extract into a non-empty dir: %v", err)
	}
}

// sparse is a PAX 1.0 sparse file: 513 bytes in the tar, 1,000,000 bytes when extracted.
var sparse = te{name: "big", typ: tar.TypeReg, mode: 0o644,
	body: "1\n999999\n1\n" + strings.Repeat("\x00", 512-len("1\n999999\n1\n")) + "x",
	rawPAX: paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "big") + paxRecord("GNU.sparse.realsize", "1000000")}

func TestSparseEntryReadsBig(t *testing.T) {
	// Guard that the sparse case of TestHostileLayers is really sparse.
	tr := tar.NewReader(bytes.NewReader(tarBytes(t, sparse)))
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, tr)
	if err != nil || n != 1000000 || h.Name != "big" {
		t.Fatalf("sparse entry %q reads %d bytes (%v), want 1000000", h.Name, n, err)
	}
}

func TestHostileLayers(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ents []te
		want string
	}{
		{"dotdot", []te{file("../outside/evil", "x", 0o644)}, `".." component`},
		{"dotdot-inner", []te{dir("a", 0o755), file("a/../../outside/evil", "x", 0o644)}, `".." component`},
		{"absolute", []te{file(filepath.Join(outside, "evil"), "x", 0o644)}, "absolute path"},
		{"symlink-out-then-file", []te{symlink("esc", outside), file("esc/evil", "x", 0o644)}, `parent "esc" is a symlink`},
		{"symlink-rel-out-then-file", []te{symlink("esc", "../outside"), file("esc/evil", "x", 0o644)}, `parent "esc" is a symlink`},
		{"symlink-inside-then-file", []te{dir("etc", 0o755), symlink("e", "etc"), file("e/passwd", "x", 0o644)}, `parent "e" is a symlink`},
		{"symlink-then-whiteout", []te{symlink("esc", outside), file("esc/.wh.keep", "", 0o644)}, `parent "esc" is a symlink`},
		{"symlink-then-dir", []te{symlink("esc", outside), dir("esc/sub", 0o755)}, `parent "esc" is a symlink`},
		{"hardlink-out", []te{hardlink("h", "../outside/keep")}, `".." component`},
		{"hardlink-abs", []te{hardlink("h", filepath.Join(outside, "keep"))}, "absolute path"},
		{"file-as-parent", []te{file("f", "x", 0o644), file("f/g", "y", 0o644)}, `parent "f" is not a directory`},
		{"sparse", []te{sparse}, "sparse files are not supported"},
		{"whiteout-dotdot", []te{dir("a", 0o755), file("a/f", "x", 0o644), file("a/.wh...", "", 0)}, `whiteout of ".." names no file`},
		{"whiteout-empty", []te{dir("a", 0o755), file("a/.wh.", "", 0)}, `whiteout of "" names no file`},
	}
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im := openOne(t, image(t, "amd64", v1.Config{}, layer(t, c.ents...)))
			dst := filepath.Join(base, "root-"+c.name)
			_, err := im.Extract(dst)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "layer 1") || !strings.Contains(err.Error(), "entry ") {
				t.Errorf("error does not name the layer and entry: %v", err)
			}
			if strings.Contains(c.want, "symlink") || strings.Contains(c.want, "..") || strings.Contains(c.want, "absolute") {
				if !errors.Is(err, ErrUnsafe) {
					t.Errorf("error is not ErrUnsafe: %v", err)
				}
			}
			diffLines(t, "outside", listTree(t, outside), []string{`keep -rw-r--r-- 0:0 "outside"`})
			// Nothing but the root directories next to outside.
			ents, _ := os.ReadDir(base)
			for _, e := range ents {
				if e.Name() != "outside" && !strings.HasPrefix(e.Name(), "root-") {
					t.Errorf("unexpected %s next to the root", e.Name())
				}
			}
		})
	}
}

func readAll(t *testing.T, rc interface {
	Read([]byte) (int, error)
	Close() error
}) []byte {
	t.Helper()
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The OCI spec: whiteouts apply to lower layers only, wherever they sit in their own layer.
func TestSameLayerWhiteoutAppliesOnlyBelow(t *testing.T) {
	img := image(t, "amd64", v1.Config{},
		layer(t, file("x", "lower", 0o644), dir("d", 0o755), file("d/a", "a", 0o644), dir("d/s", 0o755), file("d/s/low", "l", 0o644)),
		layer(t, file("x", "upper", 0o644), file(".wh.x", "", 0o644),
			file("d/b", "b", 0o644), file("d/s/up", "u", 0o644), file("d/.wh..wh..opq", "", 0o644)),
	)
	dst := filepath.Join(t.TempDir(), "root")
	if _, err := openOne(t, img).Extract(dst); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "tree", listTree(t, dst), []string{
		`d drwxr-xr-x 0:0`,
		`d/b -rw-r--r-- 0:0 "b"`,
		`d/s drwxr-xr-x 0:0`,
		`d/s/up -rw-r--r-- 0:0 "u"`,
		`x -rw-r--r-- 0:0 "upper"`,
	})
}
