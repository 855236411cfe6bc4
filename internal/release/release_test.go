package release

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"reflect"
	"testing"
)

func TestArchiveShapeAndReproducible(t *testing.T) {
	a, err := Archive([]byte("INIT"), []byte("BOOTPLAN"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Archive([]byte("INIT"), []byte("BOOTPLAN"))
	if !bytes.Equal(a, b) {
		t.Fatal("the same binaries gave different archives")
	}
	c, _ := Archive([]byte("INIT2"), []byte("BOOTPLAN"))
	if sha256.Sum256(a) == sha256.Sum256(c) {
		t.Fatal("different binaries gave the same archive")
	}
	got, err := ReadInit(a)
	if err != nil {
		t.Fatal(err)
	}
	want := InitEntries([]byte("INIT"), []byte("BOOTPLAN"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("init.tar entries:\n got %+v\nwant %+v", got, want)
	}
	for _, e := range got {
		switch e.Name {
		case "./.easyto/sbin/init", "./.easyto/bin/bootplan":
			if e.Mode != 0o755 {
				t.Errorf("%s mode %o", e.Name, e.Mode)
			}
		case "./.easyto/sbin/stage2":
			if e.Linkname != "../bin/bootplan" {
				t.Errorf("stage2 -> %q", e.Linkname)
			}
		}
	}
}

func TestReadInitRefusesEscapesAndForeignOwners(t *testing.T) {
	for _, e := range []Entry{{Name: "../etc/passwd", Mode: 0o644, Data: []byte("x")}, {Name: "/etc/passwd", Mode: 0o644}} {
		inner, _ := Tar([]Entry{e})
		outer, _ := Tar([]Entry{{Name: "init.tar", Mode: 0o644, Data: inner}})
		var gz bytes.Buffer
		w := gzipWriter(&gz)
		w.Write(outer)
		w.Close()
		if _, err := ReadInit(gz.Bytes()); err == nil {
			t.Errorf("%s accepted", e.Name)
		}
	}
}

func gzipWriter(b *bytes.Buffer) *gzip.Writer { return gzip.NewWriter(b) }
