package stage1

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/fsutil"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
)

// userDataFetcher is the part of the IMDS client user-data needs.
type userDataFetcher interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

// FetchUserData gets user data from IMDS. found is false on 404 (no user data: a normal
// boot with the image's defaults). Any other failure, after the client's retry budget, is an
// error: a boot must never silently drop user data it could not read.
func FetchUserData(ctx context.Context, c userDataFetcher) (raw []byte, found bool, err error) {
	raw, err = c.Get(ctx, "user-data")
	if errors.Is(err, imds.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("fetch user data: %w", err)
	}
	return raw, true, nil
}

// writeFile writes data to path atomically (internal/fsutil), creating missing parents 0755.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, data, perm, -1, -1)
}

// WriteUserData writes user data for people to read, decompressed when it is gzip, with mode
// 0600 (it may hold sensitive values). Data that claims to be gzip but is not is written as
// fetched: the compiler reports the problem against it.
func WriteUserData(path string, raw []byte) error {
	b, err := plan.Gunzip(raw)
	if err != nil {
		b = raw
	}
	return writeFile(path, b, 0o600)
}

// removeStaleUserData deletes the user data an earlier boot saved at path, if any. A failure
// is a warning, not a boot failure: the boot itself does not depend on the old copy.
func removeStaleUserData(path string) {
	err := os.Remove(path)
	switch {
	case err == nil:
		console.Infof("removed the previous boot's user data %s (the instance has none now)", path)
	case !errors.Is(err, fs.ErrNotExist):
		console.Warnf("unable to remove the previous boot's user data %s: %v", path, err)
	}
}
