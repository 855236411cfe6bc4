package fsutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/testneed"
)

// -o /dev/null as root must leave a device node a device node; -o a FIFO writes into it.
func TestWriteOutputDeviceAndFIFO(t *testing.T) {
	dir := t.TempDir()

	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	if err := WriteOutput(fifo, []byte("x"), 0o600); err == nil {
		t.Error("a FIFO with no reader: no error")
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	must(t, err)
	defer r.Close()
	if err := WriteOutput(fifo, []byte("plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(io.LimitReader(r, 4)); string(b) != "plan" {
		t.Errorf("read %q from the FIFO", b)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("FIFO is now %v, %v", fi.Mode(), err)
	}

	reg := filepath.Join(dir, "plan.toml")
	if err := WriteOutput(reg, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(reg); err != nil || fi.Mode() != 0o600 {
		t.Errorf("regular output %v, %v", fi.Mode(), err)
	}

	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		testneed.Missing(t, fmt.Sprintf("cannot make a device node to test with (needs root): %v", err))
	}
	if err := WriteOutput(dev, []byte("plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dev); err != nil || fi.Mode().Type() != os.ModeDevice|os.ModeCharDevice {
		t.Errorf("device node is now %v, %v; want a character device", fi.Mode(), err)
	}
}

func TestReadFileNeverWaitsOnFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	if _, err := ReadFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file (FIFO)") {
		t.Errorf("ReadFile(FIFO) = %v, want a refusal", err)
	}
	reg := filepath.Join(dir, "f")
	must(t, os.WriteFile(reg, []byte("abc"), 0o600))
	if b, err := ReadFile(reg); err != nil || string(b) != "abc" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
}
