package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goldenGroup returns the case directories of a group directory (one holding only
// subdirectories), or nil for an ordinary case.
func goldenGroup(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sub []string
	for _, e := range entries {
		if !e.IsDir() {
			return nil
		}
		sub = append(sub, filepath.Join(dir, e.Name()))
	}
	return sub
}

// Every malformed file under testdata/yaml-syntax states on its first line, by hand, where
// the mistake is ("# want LINE:COL"); the first error must point exactly there, whatever
// errors.txt (rewritten by -update) says.
func TestYAMLSyntaxPositions(t *testing.T) {
	dirs := goldenGroup(t, filepath.Join("testdata", "yaml-syntax"))
	if len(dirs) < 10 {
		t.Fatalf("%d cases under testdata/yaml-syntax, want at least ten", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "user-data.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var line, col int
			if _, err := fmt.Sscanf(string(src), "# want %d:%d", &line, &col); err != nil {
				t.Fatalf("first line must be \"# want LINE:COL\": %v", err)
			}
			var n yaml.Node
			if yaml.Unmarshal(src, &n) == nil {
				t.Fatal("the YAML library accepts this file: not a syntax error")
			}
			_, diags := ParseUserData("user-data", src, true)
			errs := diags.Errors()
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%s", diags)
			}
			if errs[0].Line != line || errs[0].Col != col {
				t.Errorf("error at %d:%d, the mistake is at %d:%d:\n%s", errs[0].Line, errs[0].Col, line, col, errs[0])
			}
			if !strings.HasPrefix(errs[0].Message, "invalid YAML: ") {
				t.Errorf("message %q", errs[0].Message)
			}
		})
	}
}

// The scanner never hangs or panics, and always names a position inside the file.
func FuzzLocateYAMLError(f *testing.F) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "yaml-syntax", "*", "user-data.yaml"))
	for _, d := range dirs {
		b, _ := os.ReadFile(d)
		f.Add(b)
	}
	f.Add([]byte("a: [\"x\", {b: 'c'}, |\n  d\n"))
	f.Add([]byte("--- |\n  x\n...\n\"\\x4"))
	f.Fuzz(func(t *testing.T, src []byte) {
		var n yaml.Node
		err := yaml.Unmarshal(src, &n)
		if err == nil {
			return
		}
		line, col, msg := locateYAMLError(src, err.Error())
		lines := strings.Count(string(src), "\n") + 1
		if !strings.HasPrefix(err.Error(), "yaml: ") {
			return // not a syntax error (a type error), no position
		}
		if line < 1 || line > lines || col < 1 || msg == "" {
			t.Fatalf("%q: %d:%d %q (file has %d lines)", src, line, col, msg, lines)
		}
	})
}
