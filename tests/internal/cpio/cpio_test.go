package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/testneed"
)

func TestHeaderLayout(t *testing.T) {
	tests := []struct {
		name    string
		add     func(*Writer) error
		want    []string // substrings of the archive
		wantLen int      // archive length must be a multiple of 4
	}{
		{"file", func(w *Writer) error { return w.File("a/b.txt", 0o644, []byte("hello")) },
			[]string{"070701", "a\x00", "a/b.txt\x00", "hello", "TRAILER!!!\x00"}, 4},
		{"symlink", func(w *Writer) error { return w.Symlink("bin/sh", "busybox") },
			[]string{"bin/sh\x00", "busybox", "0000a1ff"}, 4},
		{"chardev", func(w *Writer) error { return w.CharDev("dev/console", 0o600, 5, 1) },
			[]string{"dev/console\x00", "00002180", "00000005", "00000001"}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, 0)
			if err := tc.add(w); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			s := buf.String()
			for _, want := range tc.want {
				if !strings.Contains(s, want) {
					t.Errorf("archive lacks %q", want)
				}
			}
			if len(s)%tc.wantLen != 0 {
				t.Errorf("archive length %d not aligned", len(s))
			}
		})
	}
}

// TestCpioTool extracts an archive with GNU cpio when it is installed.
func TestCpioTool(t *testing.T) {
	bin := testneed.Tool(t, "cpio", "cpio")
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	for _, err := range []error{
		w.Dir("etc", 0o755),
		w.File("etc/passwd", 0o644, []byte("root:x:0:0::/:/bin/sh\n")),
		w.Symlink("bin/sh", "/bin/busybox"),
		w.File("odd", 0o755, []byte("x")),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "-id", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "etc/passwd"))
	if err != nil || !strings.HasPrefix(string(data), "root:") {
		t.Fatalf("etc/passwd = %q, %v", data, err)
	}
	if tgt, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || tgt != "/bin/busybox" {
		t.Fatalf("bin/sh -> %q, %v", tgt, err)
	}
}
