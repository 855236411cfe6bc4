package ociimage

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const childEnv = "OCIIMAGE_UNPRIV_CHILD"

// TestUnprivilegedExtract runs Extract as uid/gid 65534 (as `bootplan try` usually runs):
// ownership is recorded, not applied, and read-only directories still fill. As root it
// re-executes the test binary under that uid; as another user it runs in-process.
func TestUnprivilegedExtract(t *testing.T) {
	base, err := os.MkdirTemp("", "ociimage-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	img := testImage(t, "amd64")
	lay := saveLayout(t, mutate.IndexAddendum{Add: img})
	// Move the layout where uid 65534 can read it.
	pub := filepath.Join(base, "layout")
	if err := os.Rename(lay, pub); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(pub, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(out, "root")
	uid, gid := os.Geteuid(), os.Getegid()
	var tree Tree
	if uid == 0 {
		uid, gid = 65534, 65534
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(base, "ociimage.test")
		copyFile(t, exe, bin)
		cmd := exec.Command(bin, "-test.run=^TestUnprivilegedChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+pub+"\n"+dst)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child as %d: %v\n%s", uid, err, b)
		}
		js, _, ok := strings.Cut(string(b), "\nTREE-END")
		_, js, ok2 := strings.Cut(js, "TREE-BEGIN\n")
		if !ok || !ok2 {
			t.Fatalf("child printed no tree:\n%s", b)
		}
		if err := json.Unmarshal([]byte(js), &tree); err != nil {
			t.Fatal(err)
		}
	} else {
		tr, err := extractAt(pub, dst)
		if err != nil {
			t.Fatal(err)
		}
		tree = *tr
	}
	if tree.Owned {
		t.Error("Owned = true for an unprivileged extract")
	}
	want := make([]string, len(wantTree))
	for i, l := range wantTree {
		f := strings.Fields(l)
		want[i] = strings.Replace(l, " "+f[2], fmt.Sprintf(" %d:%d", uid, gid), 1)
	}
	diffLines(t, "unprivileged tree", listTree(t, dst), want)
	checkEntries(t, &tree)
}

// TestUnprivilegedChild is TestUnprivilegedExtract's child process; alone it does nothing.
func TestUnprivilegedChild(t *testing.T) {
	v := os.Getenv(childEnv)
	if v == "" {
		t.Skip("helper process of TestUnprivilegedExtract")
	}
	src, dst, _ := strings.Cut(v, "\n")
	tree, err := extractAt(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("TREE-BEGIN\n%s\nTREE-END\n", b)
}

func extractAt(src, dst string) (*Tree, error) {
	im, err := Open(src, Options{Arch: "amd64"})
	if err != nil {
		return nil, err
	}
	defer im.Close()
	return im.Extract(dst)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
