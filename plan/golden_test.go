package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

var update = flag.Bool("update", false, "rewrite the golden plan.toml / errors.txt files")

// goldenNow is the compile time of every golden plan.
var goldenNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenInputs reads a case directory:
//
//	metadata.json      image config (optional)
//	user-data.yaml     user data (optional; user-data.yaml.gz is gzipped first if present instead)
//	passwd, group      the image's /etc/passwd and /etc/group (optional)
//	services           service names under /.easyto/services, one per line (optional)
//	strict             present: compile as `bootplan validate` does
//	network.toml       what stage one configured (plan.Network as TOML; optional)
//
// and expects plan.toml (success) or errors.txt (failure: every diagnostic, one per line).
func goldenInputs(t testing.TB, dir string) Inputs {
	in := Inputs{Now: goldenNow, Version: "test"}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return b
	}
	in.Metadata = read("metadata.json")
	in.RawUserData = read("user-data.yaml")
	in.Passwd = read("passwd")
	in.Group = read("group")
	if s := read("services"); s != nil {
		in.Services = strings.Fields(string(s))
	}
	if b := read("network.toml"); b != nil {
		if err := toml.Unmarshal(b, &in.Network); err != nil {
			t.Fatalf("%s/network.toml: %v", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "strict")); err == nil {
		in.Strict = true
	}
	return in
}

func goldenCases(t testing.TB) []string {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "fuzz" {
			dir := filepath.Join("testdata", e.Name())
			// A group (testdata/yaml-syntax, testdata/easyto-compat) holds cases, one per
			// subdirectory.
			if sub := goldenGroup(t, dir); sub != nil {
				out = append(out, sub...)
				continue
			}
			out = append(out, dir)
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden cases under testdata/")
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, dir := range goldenCases(t) {
		t.Run(strings.TrimPrefix(dir, "testdata/"), func(t *testing.T) {
			in := goldenInputs(t, dir)
			p, diags, err := Compile(in)
			var got []byte
			var goldenName, otherName string
			if err != nil {
				if AsDiagnostics(err) == nil {
					t.Fatalf("compile failed without diagnostics: %v", err)
				}
				got = []byte(diags.String() + "\n")
				goldenName, otherName = "errors.txt", "plan.toml"
			} else {
				if got, err = Encode(p); err != nil {
					t.Fatal(err)
				}
				goldenName, otherName = "plan.toml", "errors.txt"
			}
			golden := filepath.Join(dir, goldenName)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				os.Remove(filepath.Join(dir, otherName))
				return
			}
			if _, err := os.Stat(filepath.Join(dir, otherName)); err == nil {
				t.Fatalf("expected %s (the case has one), but compile produced %s:\n%s", otherName, goldenName, got)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./plan -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test ./plan -update to accept):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			if p != nil {
				// Byte-identical when compiled again; round-trips through TOML.
				p2, _, _ := Compile(in)
				b2, _ := Encode(p2)
				if !bytes.Equal(got, b2) {
					t.Error("compiling twice gave different plans")
				}
				back, err := Decode(got)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(back, p) {
					t.Errorf("round trip differs:\n%#v\n%#v", back, p)
				}
			}
		})
	}
}
