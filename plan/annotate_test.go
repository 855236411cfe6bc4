package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden files: testdata/annotate/<case>.yaml → <case>.annotated, what `bootplan validate
// --annotate` prints after the diagnostics (regenerate with -update).
func TestAnnotateGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/annotate/*.yaml")
	if len(files) < 5 {
		t.Fatalf("%d annotate cases, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := "user-data"
			_, diags := ParseUserData(name, raw, true)
			got := Annotate(name, raw, diags)
			golden := strings.TrimSuffix(f, ".yaml") + ".annotated"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./plan -run TestAnnotateGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("annotation differs from %s:\n%s", golden, got)
			}
		})
	}
}

// Columns count characters; a tab before the column stays a tab so the caret lines up.
func TestAnnotateCaret(t *testing.T) {
	src := []byte("a: 1\n\tcafé: [x\n")
	got := Annotate("f", src, Diagnostics{
		{File: "f", Line: 2, Col: 8, Message: "m"},
		{File: "f", Line: 9, Message: "past the end"},
		{File: "other", Line: 1, Message: "another file"},
	})
	want := "1 | a: 1\n2 | \tcafé: [x\n  | \t      ^ error: m\n  | error: past the end\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}
