package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// WriteOutput is how the CLI writes a file it was asked for (-o FILE). A device, FIFO or
// socket — /dev/null, /dev/stdout, a pipe — is written to directly and stays what it is (as
// root, an atomic replace would turn /dev/null into a regular file); anything else is written
// with WriteAtomic. A FIFO nobody reads is an error at once (ENXIO), never a wait.
func WriteOutput(p string, data []byte, perm fs.FileMode) error {
	fi, err := os.Stat(p) // follows /dev/stdout -> /proc/self/fd/1 -> the pipe or terminal
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return WriteAtomic(p, data, perm, -1, -1)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return fmt.Errorf("write %s: a FIFO with no reader: %w", p, err)
		}
		return fmt.Errorf("write %s: %w", p, err)
	}
	f.Fd() // back to blocking mode: a full pipe is waited for, as any writer to a pipe does
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
