package plan

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
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

// FuzzCompileBudget: whatever the user data (as text or gzipped), Compile plus Encode stays
// within the budgets: an encoded plan is at most MaxPlanBytes and the two together allocate
// under allocBudget; a refusal is an error with diagnostics. Seeds under
// testdata/fuzz/FuzzCompileBudget: alias bombs, cycles, many diagnostics, gzip.
func FuzzCompileBudget(f *testing.F) {
	f.Add([]byte("command: [/bin/true]\nenv: [{name: A, value: b}]\n"), false)
	f.Fuzz(func(t *testing.T, userData []byte, gz bool) {
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(userData)
			zw.Close()
			userData = buf.Bytes()
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		p, _, err := Compile(Inputs{RawUserData: userData, Metadata: []byte(testImage), Passwd: []byte(testPasswd),
			Group: []byte(testGroup), Now: goldenNow, Strict: true})
		var b []byte
		if err == nil {
			if b, err = Encode(p); err != nil {
				t.Fatalf("Compile accepted a plan Encode refuses: %v", err)
			}
		} else if AsDiagnostics(err) == nil {
			t.Fatalf("error without diagnostics: %v", err)
		}
		runtime.ReadMemStats(&m1)
		if len(b) > MaxPlanBytes {
			t.Fatalf("plan is %d bytes, over MaxPlanBytes", len(b))
		}
		if a := m1.TotalAlloc - m0.TotalAlloc; a > allocBudget {
			t.Fatalf("Compile+Encode allocated %d MB, over %d MB", a>>20, allocBudget>>20)
		}
	})
}
