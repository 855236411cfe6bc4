package timeline

import (
	"encoding/xml"
	"flag"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCriticalPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		bars []Bar
		want []string
	}{
		{"empty", nil, nil},
		{"one", []Bar{{Name: "a", Status: "ok", DurMS: 5}}, []string{"a"}},
		{"the later predecessor decides", []Bar{
			{Name: "fast", Status: "ok", DurMS: 10},
			{Name: "slow", Status: "ok", DurMS: 100},
			{Name: "env", Status: "ok", StartMS: 100, DurMS: 1, After: []string{"fast", "slow"}},
			{Name: "cmd", Status: "ok", StartMS: 101, DurMS: 1, After: []string{"env"}},
			{Name: "side", Status: "ok", StartMS: 0, DurMS: 50},
		}, []string{"cmd", "env", "slow"}},
		{"not-run steps are never on it", []Bar{
			{Name: "a", Status: "ok", DurMS: 10},
			{Name: "b", Status: "failed", StartMS: 10, DurMS: 5, After: []string{"a"}},
			{Name: "c", Status: "not-run", After: []string{"b"}},
		}, []string{"a", "b"}},
		{"unknown and cyclic dependencies end the walk", []Bar{
			{Name: "a", Status: "ok", DurMS: 10, After: []string{"ghost", "b"}},
			{Name: "b", Status: "ok", DurMS: 5, After: []string{"a"}},
		}, []string{"a", "b"}},
	} {
		if got := keys(CriticalPath(tc.bars)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func sample() []Bar {
	return []Bar{
		{Name: "link-nvme", Status: "ok", StartMS: 0, DurMS: 2},
		{Name: "env-from-0", Status: "ok", StartMS: 0, DurMS: 186},
		{Name: "env-from-1", Status: "ok", StartMS: 4, DurMS: 102},
		{Name: "env", Status: "ok", StartMS: 186, DurMS: 0.4, After: []string{"env-from-0", "env-from-1"}},
		{Name: "volume-0", Status: "ok", StartMS: 4, DurMS: 304, After: []string{"link-nvme"}},
		{Name: "volume-1 <tpl & \"x\">", Status: "skipped", StartMS: 186, DurMS: 9, After: []string{"env"}, Error: "optional source missing"},
		{Name: "volume-2", Status: "failed", StartMS: 186, DurMS: 40, After: []string{"env"}, Error: "AccessDenied"},
		{Name: "init-scripts", Status: "not-run", After: []string{"env", "volume-0"}},
		{Name: "volume-3", Status: "abandoned", StartMS: 186, DurMS: 120, After: []string{"env"}},
	}
}

func TestSVGGolden(t *testing.T) {
	got := SVG("boot report: failed", sample())
	const golden = "testdata/sample.svg"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/timeline -update)", err)
	}
	if got != string(want) {
		t.Fatalf("SVG differs from %s (run go test ./internal/timeline -update and look at it)", golden)
	}
}

// The SVG is well-formed XML whatever the step names hold, and every step that ran has a bar.
func TestSVGWellFormed(t *testing.T) {
	s := SVG(`<title> & "quotes"`, sample())
	d := xml.NewDecoder(strings.NewReader(s))
	bars := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" && strings.HasPrefix(a.Value, "bar ") {
					bars++
				}
			}
		}
	}
	if bars != 8 { // 9 steps, one not run
		t.Fatalf("%d bars, want 8", bars)
	}
	for _, want := range []string{`class="bar failed"`, `class="bar skipped"`, `class="bar abandoned" x="635.9" y="214.0" width="260.6" height="14" rx="2" fill="#8e44ad"`, `stroke="#f0a000"`} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %s", want)
		}
	}
}

func TestNiceTick(t *testing.T) {
	for _, tc := range []struct{ total, want float64 }{{0, 1}, {8, 1}, {80, 10}, {100, 20}, {350, 50}, {1600, 200}, {7000, 1000}} {
		if got := niceTick(tc.total); got != tc.want {
			t.Errorf("niceTick(%v) = %v, want %v", tc.total, got, tc.want)
		}
	}
}
