package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzCompile: Compile must never panic, and any plan it returns must validate and survive a
// TOML round trip. Seeds: testdata/fuzz/FuzzCompile plus every golden case.
func FuzzCompile(f *testing.F) {
	if entries, err := os.ReadDir("testdata"); err == nil {
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "fuzz" {
				continue
			}
			ud, _ := os.ReadFile(filepath.Join("testdata", e.Name(), "user-data.yaml"))
			md, _ := os.ReadFile(filepath.Join("testdata", e.Name(), "metadata.json"))
			f.Add(ud, md)
		}
	}
	f.Fuzz(func(t *testing.T, userData, metadata []byte) {
		for _, strict := range []bool{false, true} {
			in := Inputs{RawUserData: userData, Metadata: metadata, Passwd: []byte(testPasswd), Group: []byte(testGroup),
				Services: []string{"chrony", "ssh", "other"}, Now: goldenNow, Strict: strict}
			p, diags, err := Compile(in)
			if err != nil {
				if p != nil {
					t.Fatal("plan returned with an error")
				}
				if AsDiagnostics(err) == nil {
					t.Fatalf("error without diagnostics: %v", err)
				}
				continue
			}
			if diags.HasErrors() {
				t.Fatalf("error diagnostics but no error: %s", diags)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("compiled plan does not validate: %v", err)
			}
			b, err := Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Decode(b)
			if err != nil {
				t.Fatalf("decode of an encoded plan: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip differs:\n%#v\n%#v", p, q)
			}
		}
	})
}
