package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
