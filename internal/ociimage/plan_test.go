package ociimage_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/ociimage"
	"github.com/bootplan/bootplan/plan"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// bootplan's own reader (plan.Compile) must read the metadata.json written here, with the
// image's passwd from the extracted tree resolving its User.
func TestPlanCompilesWrittenMetadata(t *testing.T) {
	img, err := random.Image(512, 2) // random layers under the crafted one
	if err != nil {
		t.Fatal(err)
	}
	etc, err := ociimageLayer(map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nweb:x:1001:1002::/srv:/bin/sh\n",
		"etc/group":  "root:x:0:\nweb:x:1002:\nextra:x:1003:web\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, etc)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "arm64"
	cf.Config = v1.Config{
		Entrypoint: []string{"/usr/bin/web", "--flag"},
		Cmd:        []string{"serve"},
		Env:        []string{"PATH=/usr/bin", "MODE=a=b"},
		User:       "web",
		WorkingDir: "/srv",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	im, err := ociimage.Open(dir, ociimage.Options{Arch: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	root := filepath.Join(t.TempDir(), "root")
	if _, err := im.Extract(root); err != nil {
		t.Fatal(err)
	}
	meta, err := im.MetadataJSON()
	if err != nil {
		t.Fatal(err)
	}
	passwd, err1 := os.ReadFile(filepath.Join(root, "etc/passwd"))
	group, err2 := os.ReadFile(filepath.Join(root, "etc/group"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	p, diags, err := plan.Compile(plan.Inputs{Metadata: meta, Passwd: passwd, Group: group, Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatalf("Compile: %v\n%v", err, diags)
	}
	c := p.Command
	if want := []string{"/usr/bin/web", "--flag", "serve"}; !reflect.DeepEqual(c.Argv, want) {
		t.Errorf("argv = %q, want %q", c.Argv, want)
	}
	if c.WorkingDir != "/srv" || c.UID != 1001 || c.GID != 1002 || !reflect.DeepEqual(c.Groups, []uint32{1003}) {
		t.Errorf("command = dir %q uid %d gid %d groups %v, want /srv 1001 1002 [1003]", c.WorkingDir, c.UID, c.GID, c.Groups)
	}
	env := map[string]string{}
	for _, e := range p.Env {
		env[e.Name] = e.Value
	}
	if env["PATH"] != "/usr/bin" || env["MODE"] != "a=b" {
		t.Errorf("env = %v, want PATH=/usr/bin MODE=a=b", p.Env)
	}
}
