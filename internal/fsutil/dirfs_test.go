package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

func TestWriteBeneath(t *testing.T) {
	top := t.TempDir()
	base := filepath.Join(top, "srv")
	must(t, os.Mkdir(base, 0o755))
	must(t, os.Mkdir(filepath.Join(base, "www"), 0o755))
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = 1000, 1000
	}
	created, err := WriteBeneath(base, "www/css/deep/app.css", []byte("body{}"), 0o640|os.ModeSetgid, -1, -1, uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{base + "/www/css", base + "/www/css/deep"}; !reflect.DeepEqual(created, want) {
		t.Errorf("created %v, want %v", created, want)
	}
	for _, d := range created {
		fi, err := os.Lstat(d)
		if err != nil || fi.Mode() != os.ModeDir|0o755 {
			t.Errorf("%s: %v, %v; want a 0755 directory", d, fi.Mode(), err)
		}
		if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
			t.Errorf("%s owned by %d:%d, want %d:%d", d, st.Uid, st.Gid, uid, gid)
		}
	}
	if fi, err := os.Lstat(filepath.Join(base, "www")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
		t.Errorf("an existing directory was chowned")
	}
	fi, err := os.Lstat(filepath.Join(base, "www/css/deep/app.css"))
	if err != nil || fi.Mode() != 0o640|os.ModeSetgid {
		t.Errorf("file %v, %v; want g-rw-r-----", fi.Mode(), err)
	}

	// A symlink where a directory should be is never followed, wherever it points.
	outside := filepath.Join(top, "etc")
	must(t, os.Mkdir(outside, 0o755))
	must(t, os.Symlink("../etc", filepath.Join(base, "www/img")))
	must(t, os.Symlink(outside, filepath.Join(base, "abs")))
	for _, rel := range []string{"www/img/passwd", "www/img/new/passwd", "abs/passwd"} {
		if _, err := WriteBeneath(base, rel, []byte("x"), 0o644, -1, -1, -1, -1); !errors.Is(err, ErrSymlinkInPath) {
			t.Errorf("%s: err = %v, want ErrSymlinkInPath", rel, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written through a symlink: %v", ents)
	}
	for _, rel := range []string{"", "a//b", "../x", "a/./b"} {
		if _, err := WriteBeneath(base, rel, nil, 0o644, -1, -1, -1, -1); err == nil {
			t.Errorf("rel %q accepted", rel)
		}
	}
}
