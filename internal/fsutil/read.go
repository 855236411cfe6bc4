package fsutil

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// ReadFile reads a regular file. Opened O_NONBLOCK, so a FIFO planted where a file is expected
// never makes PID 1 wait for a writer; anything but a regular file is an error at once.
func ReadFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file (%s)", p, kind(fi.Mode()))
	}
	return io.ReadAll(f)
}
