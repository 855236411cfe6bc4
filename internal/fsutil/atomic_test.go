package fsutil

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bootplan/bootplan/internal/testneed"
)

func TestWriteAtomic(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "plan.toml")
	for _, content := range []string{"first", "second"} {
		if err := WriteAtomic(p, []byte(content), 0o644, -1, -1); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644 whatever the umask", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	err = WriteAtomic(filepath.Join(dir, "missing", "x"), nil, 0o600, -1, -1)
	if err == nil || !strings.HasPrefix(err.Error(), "write "+filepath.Join(dir, "missing", "x")+": ") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestWriteAtomicInRoot(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Mkdir("etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomicIn(root, "etc/app.conf", []byte("x"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "app.conf")); err != nil || string(b) != "x" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := WriteAtomicIn(root, "../escape", []byte("x"), 0o600, -1, -1); err == nil {
		t.Fatal("a write outside the root succeeded")
	}
}

// What a workload running as another user may plant beside a file PID 1 writes: the writer
// must leave every planted thing's target untouched, never block, and end with a regular file
// holding exactly the data at the destination.
func TestWriteAtomicPlanted(t *testing.T) {
	const data = "new content"
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, victim string)
	}{
		{"hard link at the old predictable temporary name", func(t *testing.T, dir, victim string) {
			must(t, os.Link(victim, filepath.Join(dir, ".config.json.tmp")))
		}},
		{"hard link at the destination", func(t *testing.T, dir, victim string) {
			must(t, os.Link(victim, filepath.Join(dir, "config.json")))
		}},
		{"symlink at the old temporary name", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(victim, filepath.Join(dir, ".config.json.tmp")))
		}},
		{"dangling symlink at the old temporary name", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(filepath.Join(filepath.Dir(victim), "created-through-link"), filepath.Join(dir, ".config.json.tmp")))
		}},
		{"symlink at the destination", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(victim, filepath.Join(dir, "config.json")))
		}},
		{"FIFO at the destination", func(t *testing.T, dir, victim string) {
			must(t, syscall.Mkfifo(filepath.Join(dir, "config.json"), 0o666))
		}},
		{"FIFO with a reader at the old temporary name", func(t *testing.T, dir, victim string) {
			// The reader keeps an open for writing from blocking, so a writer that opens the
			// planted name writes into the FIFO (and renames it over the destination) instead
			// of hanging the test.
			fifo := filepath.Join(dir, ".config.json.tmp")
			must(t, syscall.Mkfifo(fifo, 0o666))
			r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			must(t, err)
			t.Cleanup(func() { r.Close() })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			victim := filepath.Join(top, "root-owned")
			must(t, os.WriteFile(victim, []byte("secret"), 0o600))
			dir := filepath.Join(top, "app")
			must(t, os.Mkdir(dir, 0o755))
			tc.plant(t, dir, victim)

			dst := filepath.Join(dir, "config.json")
			if err := WriteAtomic(dst, []byte(data), 0o644, -1, -1); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "secret" {
				t.Errorf("victim holds %q, %v; want it untouched", b, err)
			}
			if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("victim mode %v, %v; want 0600", fi.Mode(), err)
			}
			if _, err := os.Lstat(filepath.Join(top, "created-through-link")); err == nil {
				t.Error("a file was created through a dangling symlink")
			}
			fi, err := os.Lstat(dst)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
				t.Fatalf("destination %v, %v; want a regular 0644 file", fi.Mode(), err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Nlink != 1 {
				t.Errorf("destination has %d links, want 1 (a new file)", st.Nlink)
			}
			if b, _ := os.ReadFile(dst); string(b) != data {
				t.Errorf("destination holds %q, want %q", b, data)
			}
		})
	}
}

// Temporary names cannot be guessed, and every write leaves no temporary file behind.
func TestTempName(t *testing.T) {
	a, b := TempName("config.json"), TempName("config.json")
	if a == b || !strings.HasPrefix(a, ".config.json.") || !strings.HasSuffix(a, ".tmp") || len(a) != len(".config.json.")+32+4 {
		t.Errorf("TempName = %q, %q: want two different .config.json.<32 hex>.tmp", a, b)
	}
	if n := len(TempName(strings.Repeat("x", 255))); n > 255 {
		t.Errorf("temporary name of a 255-byte name is %d bytes, over NAME_MAX", n)
	}
}

// setuid, setgid and sticky bits are kept: the same rule as for EBS volume roots.
func TestWriteAtomicSpecialBits(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o755 | os.ModeSetuid, 0o750 | os.ModeSetgid, 0o644 | os.ModeSticky, 0o6711&0o777 | os.ModeSetuid | os.ModeSetgid} {
		p := filepath.Join(dir, "f")
		if err := WriteAtomic(p, []byte("x"), perm, -1, -1); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode() != perm {
			t.Errorf("mode %v, %v; want %v", fi.Mode(), err, perm)
		}
	}
	// Given to another owner: root's chown clears setuid/setgid, so the mode must come after.
	p := filepath.Join(dir, "owned")
	if err := WriteAtomic(p, []byte("x"), 0o755|os.ModeSetuid|os.ModeSetgid, 1000, 1000); err != nil {
		if os.Getuid() != 0 {
			testneed.Missing(t, fmt.Sprintf("chown to 1000 needs root: %v", err))
		}
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode() != 0o755|os.ModeSetuid|os.ModeSetgid || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("mode %v, %v; want ugrwxr-xr-x owned by 1000", fi.Mode(), err)
	}
}

// A directory or a device node at the destination is refused, never replaced by a file.
func TestWriteAtomicRefusesDirAndDevice(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	if err := WriteAtomic(filepath.Join(dir, "d"), []byte("x"), 0o644, -1, -1); !errors.Is(err, ErrNotReplaceable) {
		t.Errorf("directory: err = %v, want ErrNotReplaceable", err)
	}
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		testneed.Missing(t, fmt.Sprintf("cannot make a device node to test with (needs root): %v", err))
	}
	if err := WriteAtomic(dev, []byte("x"), 0o644, -1, -1); !errors.Is(err, ErrNotReplaceable) {
		t.Errorf("device: err = %v, want ErrNotReplaceable", err)
	}
	if fi, err := os.Lstat(dev); err != nil || fi.Mode().Type() != os.ModeDevice|os.ModeCharDevice {
		t.Errorf("device node is now %v, %v", fi.Mode(), err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
