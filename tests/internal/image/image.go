// Package image builds the initramfs the VM tests boot: an easyto-style AMI root
// (/.easyto/sbin/init, /.easyto/sbin/stage2 → /.easyto/bin/bootplan, busybox userland,
// kernel modules, mkfs tools) as a newc cpio archive, gzipped.
//
// The image is two archives concatenated, which the kernel unpacks in order: a large base
// (binaries, modules, tools) built once per test run, and a small per-scenario overlay
// (metadata.json, the scenario's files) whose entries replace the base's.
package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootplan/bootplan/internal/release"
	"github.com/bootplan/bootplan/tests/internal/cpio"
)

// DefaultMetadata is the image config used when a scenario has no metadata.json.
const DefaultMetadata = `{"config":{"Cmd":["/test-entrypoint"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"}}`

// DefaultModules are the kernel modules (with their dependencies) every image carries.
var DefaultModules = []string{
	"virtio_net", "virtio_pci", "virtio_blk", "ena", "xfs", "btrfs", "button", "evdev",
	"br_netfilter", "nf_conntrack", "overlay",
}

// Tools copied from the asset staging dir into /.easyto/sbin.
var Tools = []string{"mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "blkid", "resize2fs"}

// Assets are the host inputs of an image.
type Assets struct {
	Init          string // bin/init
	Bootplan      string // bin/bootplan
	Busybox       string // static busybox
	KernelDir     string // dpkg -x of the kernel package (holds lib/modules/<ver>)
	KernelVersion string
	Vmlinuz       string
	Staging       string // tools + libraries laid out as on the host (assets.sh)
}

// FindAssets locates the assets under a repository root (after `make build assets`).
func FindAssets(root string) (Assets, error) {
	cache := filepath.Join(root, ".cache")
	ver, err := os.ReadFile(filepath.Join(cache, "kernel", "version"))
	if err != nil {
		return Assets{}, fmt.Errorf("kernel assets missing (run `make assets`): %w", err)
	}
	a := Assets{
		Init:          filepath.Join(root, "bin", "init"),
		Bootplan:      filepath.Join(root, "bin", "bootplan"),
		Busybox:       "/bin/busybox",
		KernelDir:     filepath.Join(cache, "kernel"),
		KernelVersion: strings.TrimSpace(string(ver)),
		Vmlinuz:       filepath.Join(cache, "kernel", "vmlinuz"),
		Staging:       filepath.Join(cache, "staging"),
	}
	for _, p := range []string{a.Busybox, a.Vmlinuz, filepath.Join(a.Staging, ".done")} {
		if _, err := os.Stat(p); err != nil {
			return Assets{}, fmt.Errorf("asset missing (run `make assets`): %w", err)
		}
	}
	return a, nil
}

// CheckBinaries reports whether bin/init and bin/bootplan exist.
func (a Assets) CheckBinaries() error {
	for _, p := range []string{a.Init, a.Bootplan} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("binary missing (run `make build`): %w", err)
		}
	}
	return nil
}

// Base describes the base archive.
type Base struct {
	Assets Assets
	// Modules to include, with their dependency closure; nil → DefaultModules.
	Modules []string
	// NoBinaries leaves out bin/init and bin/bootplan (harness self-test).
	NoBinaries bool
	// Real: the archive goes on top of a Debian root filesystem (tests/images): only the
	// easyto layout (/.easyto/..., kernel modules, mkfs tools, device nodes), no busybox
	// applet links, /etc files or test entrypoint, which would replace the distribution's.
	Real bool
}

// BuildBase writes the gzipped base archive to out.
func BuildBase(b Base, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	w := cpio.NewWriter(zw, 0)
	if err := writeBase(w, b); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("image: gzip: %w", err)
	}
	return f.Close()
}

var passwd = `root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:Test User:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

var group = `root:x:0:
user:x:1000:
nogroup:x:65534:
`

// testEntrypoint is the default image command (like easyto-init's test image): the network
// is up and PID 1 is not us.
var testEntrypoint = `#!/bin/sh
out=/dev/console
if ip -4 addr show dev eth0 2>/dev/null | grep -q 'inet '; then
	echo "PASS test-entrypoint: eth0 has an IPv4 address" >$out
else
	echo "FAIL test-entrypoint: eth0 has no IPv4 address" >$out
fi
echo "PASS test-entrypoint: pid $$ uid $(id -u)" >$out
`

func writeBase(w *cpio.Writer, b Base) error {
	a := b.Assets
	dirs := []struct {
		name string
		perm uint32
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
		{"etc", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"run", 0o755},
		{"tmp", 0o1777}, {"root", 0o700}, {"mnt", 0o755}, {"var", 0o755}, {"home/user", 0o755},
		{".easyto/bin", 0o755}, {".easyto/sbin", 0o755}, {".easyto/run", 0o755},
		{".easyto/etc", 0o755},
	}
	if b.Real { // the distribution has the top-level directories (some are symlinks)
		dirs = dirs[len(dirs)-4:]
	}
	for _, d := range dirs {
		if err := w.Dir(d.name, d.perm); err != nil {
			return err
		}
	}
	if err := w.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := w.CharDev("dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	if err := w.CharDev("dev/ttyS0", 0o600, 4, 64); err != nil {
		return err
	}
	if !b.NoBinaries {
		if err := w.FileFrom(".easyto/sbin/init", a.Init, 0o755); err != nil {
			return err
		}
		if err := w.FileFrom(".easyto/bin/bootplan", a.Bootplan, 0o755); err != nil {
			return err
		}
		if err := w.Symlink(".easyto/sbin/stage2", "../bin/bootplan"); err != nil {
			return err
		}
	}
	// busybox userland
	if err := w.FileFrom(".easyto/bin/busybox", a.Busybox, 0o755); err != nil {
		return err
	}
	var applets []string
	if !b.Real {
		var err error
		if applets, err = busyboxApplets(a.Busybox); err != nil {
			return err
		}
	}
	for _, ap := range applets {
		if err := w.Symlink("bin/"+ap, "/.easyto/bin/busybox"); err != nil {
			return err
		}
	}
	links := []struct{ name, target string }{
		{".easyto/bin/sh", "busybox"},
		{".easyto/sbin/modprobe", "../bin/busybox"},
		{"usr/bin/env", "/bin/env"},
		{"sbin/modprobe", "/bin/modprobe"},
		{"sbin/insmod", "/bin/insmod"},
		{"sbin/poweroff", "/bin/poweroff"},
		{"sbin/init", "/.easyto/sbin/init"},
	}
	if b.Real {
		links = links[:2]
	}
	for _, l := range links {
		if err := w.Symlink(l.name, l.target); err != nil {
			return err
		}
	}
	// mkfs tools and libraries
	if err := addStaging(w, a.Staging); err != nil {
		return err
	}
	// kernel modules
	mods := b.Modules
	if mods == nil {
		mods = DefaultModules
	}
	if err := addModules(w, a.KernelDir, a.KernelVersion, mods); err != nil {
		return err
	}
	files := []struct {
		name string
		perm uint32
		data string
	}{
		{".easyto/metadata.json", 0o644, DefaultMetadata + "\n"},
		{"etc/passwd", 0o644, passwd},
		{"etc/group", 0o644, group},
		{"etc/hosts", 0o644, "127.0.0.1 localhost\n"},
		{"test-entrypoint", 0o755, testEntrypoint},
	}
	if b.Real {
		files = files[:1]
	}
	for _, f := range files {
		if err := w.File(f.name, f.perm, []byte(f.data)); err != nil {
			return err
		}
	}
	return nil
}

func busyboxApplets(bb string) ([]string, error) {
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("image: %s --list: %w", bb, err)
	}
	var apps []string
	for _, l := range strings.Fields(string(out)) {
		if l != "busybox" && !strings.Contains(l, "/") {
			apps = append(apps, l)
		}
	}
	return apps, nil
}

func addStaging(w *cpio.Writer, staging string) error {
	// .cache/staging may be a symlink (a worktree sharing another's cache): WalkDir does not
	// follow a symlinked root.
	if real, err := filepath.EvalSymlinks(staging); err == nil {
		staging = real
	}
	return filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("image: staging: %w", err)
		}
		rel, _ := filepath.Rel(staging, p)
		if d.IsDir() || rel == ".done" {
			return nil
		}
		name := rel
		if strings.HasPrefix(rel, "sbin/") {
			name = ".easyto/" + rel
		}
		return w.FileFrom(name, p, 0)
	})
}

// ModuleDeps parses modules.dep text into module path → dependency paths.
func ModuleDeps(data []byte) map[string][]string {
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
	}
	return deps
}

// ModuleName returns the module name of a modules.dep path ("kernel/a/b/virtio_net.ko" →
// "virtio_net"); "-" and "_" are the same in module names, so "-" becomes "_".
func ModuleName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

// ModuleClosure returns the modules.dep paths of names and everything they depend on,
// sorted. Unknown names are an error.
func ModuleClosure(deps map[string][]string, names []string) ([]string, error) {
	byName := map[string]string{}
	for p := range deps {
		byName[ModuleName(p)] = p
	}
	set := map[string]bool{}
	for _, n := range names {
		p, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("image: module %q not in modules.dep", n)
		}
		set[p] = true
		for _, d := range deps[p] {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func addModules(w *cpio.Writer, kdir, ver string, names []string) error {
	mdir := filepath.Join(kdir, "lib", "modules", ver)
	depData, err := os.ReadFile(filepath.Join(mdir, "modules.dep"))
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	deps := ModuleDeps(depData)
	mods, err := ModuleClosure(deps, names)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var dep strings.Builder
	for _, m := range mods {
		keep[m] = true
		fmt.Fprintf(&dep, "%s:", m)
		for _, d := range deps[m] {
			fmt.Fprintf(&dep, " %s", d)
		}
		dep.WriteString("\n")
		if err := w.FileFrom(path.Join("lib/modules", ver, m), filepath.Join(mdir, m), 0o644); err != nil {
			return err
		}
	}
	dst := path.Join("lib/modules", ver)
	if err := w.File(dst+"/modules.dep", 0o644, []byte(dep.String())); err != nil {
		return err
	}
	// modules.alias restricted to the modules we ship (lets an init match modaliases).
	kept := map[string]bool{}
	for m := range keep {
		kept[ModuleName(m)] = true
	}
	if alias, err := os.ReadFile(filepath.Join(mdir, "modules.alias")); err == nil {
		var b strings.Builder
		for _, l := range strings.Split(string(alias), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "alias" && kept[strings.ReplaceAll(f[2], "-", "_")] {
				b.WriteString(l + "\n")
			}
		}
		if err := w.File(dst+"/modules.alias", 0o644, []byte(b.String())); err != nil {
			return err
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order", "modules.softdep"} {
		if _, err := os.Stat(filepath.Join(mdir, f)); err == nil {
			if err := w.FileFrom(dst+"/"+f, filepath.Join(mdir, f), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// Overlay describes the per-scenario archive.
type Overlay struct {
	Metadata []byte            // /.easyto/metadata.json; nil → keep the base's default
	Dir      string            // files copied on top of the root (a scenario's overlay/); may be ""
	Files    map[string][]byte // extra files (path → content, mode 0755 if it starts with "#!")
	// Release is a release archive (internal/release) whose init.tar is unpacked over the
	// root with its exact modes, as easyto's image builder unpacks easyto-init's.
	Release []byte
}

// ReleaseArchive packs bin/init and bin/bootplan the way `make release` does.
func (a Assets) ReleaseArchive() ([]byte, error) {
	if err := a.CheckBinaries(); err != nil {
		return nil, err
	}
	i, err := os.ReadFile(a.Init)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(a.Bootplan)
	if err != nil {
		return nil, err
	}
	return release.Archive(i, b)
}

// addRelease writes the entries of a release archive's init.tar.
func addRelease(w *cpio.Writer, archive []byte) error {
	entries, err := release.ReadInit(archive)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	for _, e := range entries {
		name := path.Clean(e.Name)
		if name == "." {
			continue
		}
		switch {
		case e.Dir:
			err = w.Dir(name, uint32(e.Mode))
		case e.Linkname != "":
			err = w.Symlink(name, e.Linkname)
		default:
			err = w.File(name, uint32(e.Mode), e.Data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// BuildOverlay writes the gzipped overlay archive to out.
func BuildOverlay(o Overlay, out string) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := cpio.NewWriter(zw, 0)
	if o.Release != nil {
		if err := addRelease(w, o.Release); err != nil {
			return err
		}
	}
	if o.Metadata != nil {
		if err := w.File(".easyto/metadata.json", 0o644, o.Metadata); err != nil {
			return err
		}
	}
	if o.Dir != "" {
		if err := addTree(w, o.Dir); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(o.Files))
	for n := range o.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		perm := uint32(0o644)
		if bytes.HasPrefix(o.Files[n], []byte("#!")) {
			perm = 0o755
		}
		if err := w.File(n, perm, o.Files[n]); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("image: gzip: %w", err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

func addTree(w *cpio.Writer, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("image: overlay: %w", err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("image: overlay: %w", err)
		}
		switch {
		case d.IsDir():
			return w.Dir(rel, uint32(info.Mode().Perm()))
		case info.Mode()&fs.ModeSymlink != 0:
			tgt, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("image: overlay: %w", err)
			}
			return w.Symlink(rel, tgt)
		case info.Mode().IsRegular():
			return w.FileFrom(rel, p, uint32(info.Mode().Perm()))
		}
		return nil
	})
}

// Concat writes the concatenation of the files parts to out (an initramfs may be several
// archives back to back).
func Concat(out string, parts ...string) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	for _, p := range parts {
		in, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			return fmt.Errorf("image: concat %s: %w", p, err)
		}
	}
	return f.Close()
}
