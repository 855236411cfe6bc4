package plan

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Benchmarks for the work stage one does on every boot (make bench).

func loadCase(b *testing.B, name string) Inputs {
	b.Helper()
	dir := filepath.Join("testdata", name)
	read := func(f string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		return data
	}
	return Inputs{
		RawUserData: read("user-data.yaml"),
		Metadata:    read("metadata.json"),
		Passwd:      read("passwd"),
		Group:       read("group"),
		Services:    []string{"chrony", "ssh"},
		Now:         time.Unix(0, 0).UTC(),
	}
}

func BenchmarkCompileFullExample(b *testing.B) {
	in := loadCase(b, "full-example")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDecodeFullExample(b *testing.B) {
	p, _, err := Compile(loadCase(b, "full-example"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		data, err := Encode(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpand(b *testing.B) {
	env := map[string]string{"DB_USER": "u", "DB_PASS": "p", "DB_HOST": "h", "DB_PORT": "5432"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	s := "postgresql://$(DB_USER):$(DB_PASS)@$(DB_HOST):$(DB_PORT)/$(DB_NAME) $$(ESCAPED)"
	b.ReportAllocs()
	for b.Loop() {
		Expand(s, lookup)
	}
}
