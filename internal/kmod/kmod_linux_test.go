package kmod

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLoadFileFlags(t *testing.T) {
	type call struct {
		params string
		flags  int
	}
	var calls []call
	old := finitModule
	finitModule = func(fd int, params string, flags int) error {
		calls = append(calls, call{params, flags})
		if params == "exists" {
			return unix.EEXIST
		}
		return nil
	}
	t.Cleanup(func() { finitModule = old })
	dir := t.TempDir()
	for _, tc := range []struct {
		name, params string
		flags        int
	}{
		{"plain.ko", "a=1", 0},
		{"xz.ko.xz", "", unix.MODULE_INIT_COMPRESSED_FILE},
		{"gz.ko.gz", "b=2 c=3", unix.MODULE_INIT_COMPRESSED_FILE},
		{"zst.ko.zst", "", unix.MODULE_INIT_COMPRESSED_FILE},
		{"loaded.ko.xz", "exists", unix.MODULE_INIT_COMPRESSED_FILE}, // EEXIST is success
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte("module"), 0o644); err != nil {
			t.Fatal(err)
		}
		calls = nil
		if err := LoadFile(p, tc.params); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(calls) != 1 || calls[0] != (call{tc.params, tc.flags}) {
			t.Errorf("%s: finit_module calls %+v, want params %q flags %d", tc.name, calls, tc.params, tc.flags)
		}
	}
	if err := LoadFile(filepath.Join(dir, "missing.ko"), ""); err == nil {
		t.Error("missing file loaded")
	}
}
