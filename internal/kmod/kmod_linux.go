//go:build linux

package kmod

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// FinitFlags returns the finit_module flags for a module file: compressed modules
// (.ko.xz/.ko.gz/.ko.zst) are handed to the kernel to decompress.
func FinitFlags(file string) int {
	for _, s := range []string{".ko.xz", ".ko.gz", ".ko.zst"} {
		if strings.HasSuffix(file, s) {
			return unix.MODULE_INIT_COMPRESSED_FILE
		}
	}
	return 0
}

// finitModule is finit_module(2); a variable so tests can see the flags LoadFile passes.
var finitModule = unix.FinitModule

// LoadFile loads one module file with finit_module; EEXIST (already loaded) is success. It is
// the one module-file loader of stage one, stage two and the power-button code.
func LoadFile(file, params string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := finitModule(int(f.Fd()), params, FinitFlags(file)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", file, err)
	}
	return nil
}

// Load loads name (a module name or alias) with params from root/lib/modules/release, dependencies
// first. Built-in and already loaded modules are success.
func Load(root, release, name, params string) error {
	ix, err := Open(os.ReadFile, root, release)
	if err != nil {
		return err
	}
	return ix.Load(name, params, LoadFile)
}

// Release returns the running kernel's release (uname -r).
func Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
