package plan

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// gzipped compresses what write produces, streaming (a bomb's text is never held whole).
func gzipped(t testing.TB, write func(w io.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	write(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// repeat writes s n times to w.
func repeat(w io.Writer, s string, n int) {
	chunk := strings.Repeat(s, max(1, (64<<10)/max(1, len(s))))
	per := len(chunk) / len(s)
	for ; n >= per; n -= per {
		io.WriteString(w, chunk)
	}
	io.WriteString(w, strings.Repeat(s, n))
}

// aliasBomb is one anchored string of size bytes aliased by n env entries.
func aliasBomb(t testing.TB, size, n int) []byte {
	return gzipped(t, func(w io.Writer) {
		io.WriteString(w, "x-big: &big \"")
		repeat(w, "a", size)
		io.WriteString(w, "\"\nenv:\n")
		for i := range n {
			fmt.Fprintf(w, "  - {name: V%d, value: *big}\n", i)
		}
	})
}

// validateMeasured runs what `bootplan validate USER-DATA` runs (Compile, strict, no image
// root) and, when it compiles, encodes the plan as stage one and `bootplan compile` do. It
// returns the bytes allocated meanwhile.
func validateMeasured(raw []byte) (allocated uint64, err error) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	p, _, err := Compile(Inputs{RawUserData: raw, Strict: true, Now: time.Unix(0, 0), SkipUserLookup: true})
	if err == nil {
		_, err = Encode(p)
	}
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc, err
}

const allocBudget = 100 << 20 // what validate may allocate on any bomb

// TestBudgetBombs: every bomb of issue 10 (and its in-limit variants) is refused with the
// error naming the limit it exceeded, allocating under 100 MB on the way.
func TestBudgetBombs(t *testing.T) {
	billion := func() []byte {
		var b strings.Builder
		b.WriteString("x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "x-l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i,
				i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
		}
		b.WriteString("command: *l9\n")
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name string
		raw  func() []byte
		want string
	}{
		// Issue 10: 5,433 bytes of gzip, a 1 MiB anchored string aliased by 1,500 env
		// entries; stage one compiled a 1.5 GB plan.
		{"issue-alias-1MiB-x1500", func() []byte { return aliasBomb(t, 1<<20, 1500) }, "larger than 256 KiB after gzip decompression"},
		// The same under the decompressed limit: only the expansion budget can catch it.
		{"alias-200KiB-x1500", func() []byte { return aliasBomb(t, 200<<10, 1500) }, "larger than 1 MiB once YAML aliases are expanded"},
		// Billion laughs: 10^10 strings from 700 bytes, not gzipped.
		{"billion-laughs", billion, "once aliases are expanded"},
		{"alias-cycle", func() []byte { return []byte("x-a: &a [*a]\ncommand: *a\n") }, "contains it"},
		{"alias-cycle-unused", func() []byte { return []byte("x-a: &a {b: *a}\n") }, "contains it"},
		// Issue 10: 16 KB of gzip holding an 8-million-item list under an x- key; validate
		// took 3.7 s and 1.5 GB, then said OK.
		{"issue-8M-list", func() []byte {
			return gzipped(t, func(w io.Writer) {
				io.WriteString(w, "x-list: [")
				repeat(w, "0,", 8_000_000)
				io.WriteString(w, "0]\ncommand: [/bin/true]\n")
			})
		}, "larger than 256 KiB after gzip decompression"},
		// Issue 10: gzip output was cut silently at 64 MiB; command past the cut was lost.
		{"issue-command-past-64MiB", func() []byte {
			return gzipped(t, func(w io.Writer) {
				io.WriteString(w, "x-filler: \"")
				repeat(w, "a", 64<<20)
				io.WriteString(w, "\"\ncommand: [/bin/true]\n")
			})
		}, "larger than 256 KiB after gzip decompression"},
		{"raw-over-limit", func() []byte {
			return []byte("command: [/bin/true]\n#" + strings.Repeat("a", MaxUserDataBytes) + "\n")
		}, "larger than 256 KiB as fetched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw()
			alloc, err := validateMeasured(raw)
			t.Logf("%d bytes in, %d MB allocated: %v", len(raw), alloc>>20, err)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tc.want)
			}
			if alloc > allocBudget {
				t.Errorf("allocated %d MB, want < %d MB", alloc>>20, allocBudget>>20)
			}
		})
	}
}

// TestBudgetNodeTreeAtLimit: the shapes that make the YAML library allocate most per byte
// (one node per one or two bytes) at the decompressed limit stay under 100 MB, whatever the
// verdict.
func TestBudgetNodeTreeAtLimit(t *testing.T) {
	for name, item := range map[string]string{"qmark": "  ?\n", "block": "  -\n", "flow": "0,", "top-qmark": "?\n"} {
		t.Run(name, func(t *testing.T) {
			head, tail := "x-a:\n", "command: [/bin/true]\n"
			if name == "flow" {
				head, tail = "x-a: [", "0]\ncommand: [/bin/true]\n"
			}
			n := (MaxUserDataBytes - len(head) - len(tail)) / len(item)
			raw := []byte(head + strings.Repeat(item, n) + tail)
			if len(raw) > MaxUserDataBytes {
				t.Fatalf("test input is %d bytes, over the limit", len(raw))
			}
			alloc, err := validateMeasured(raw)
			t.Logf("%d bytes, %d MB allocated: %v", len(raw), alloc>>20, err)
			if err != nil && !strings.Contains(err.Error(), "bootplan's limit") {
				t.Errorf("error %q is not a budget error", err)
			}
			if alloc > allocBudget {
				t.Errorf("allocated %d MB, want < %d MB", alloc>>20, allocBudget>>20)
			}
		})
	}
}

// TestBudgetWithinLimits: user data just under every budget compiles (no false refusal).
func TestBudgetWithinLimits(t *testing.T) {
	script := "#!/bin/sh\n" + strings.Repeat("echo 'a line of a long init script -- with: punctuation, [x]'\n", (MaxUserDataBytes-4096)/70)
	var b strings.Builder
	b.WriteString("init-scripts:\n  - |\n")
	for _, l := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	big := b.String()
	// An anchored 100 KiB value used nine times: 1000 KiB expanded, under 1 MiB.
	aliases := "x-v: &v \"" + strings.Repeat("b", 100<<10) + "\"\nenv:\n"
	for i := range 9 {
		aliases += fmt.Sprintf("  - {name: V%d, value: *v}\n", i)
	}
	for name, ud := range map[string]string{"big-script": big, "aliases-under-budget": aliases} {
		t.Run(name, func(t *testing.T) {
			if len(ud) > MaxUserDataBytes {
				t.Fatalf("test input is %d bytes, over the limit", len(ud))
			}
			for _, raw := range [][]byte{[]byte(ud), gzipped(t, func(w io.Writer) { io.WriteString(w, ud) })} {
				if _, err := validateMeasured(raw); err != nil {
					t.Fatalf("%d bytes refused: %v", len(raw), err)
				}
			}
		})
	}
}

// TestGunzipLimit: exactly the limit decompresses; one byte more is an error, never a
// truncation.
func TestGunzipLimit(t *testing.T) {
	at := bytes.Repeat([]byte("a"), MaxUserDataBytes)
	for _, raw := range [][]byte{at, gzipped(t, func(w io.Writer) { w.Write(at) })} {
		b, err := Gunzip(raw)
		if err != nil || !bytes.Equal(b, at) {
			t.Fatalf("at the limit: %d bytes, %v", len(b), err)
		}
	}
	over := append(at, 'a')
	for _, raw := range [][]byte{over, gzipped(t, func(w io.Writer) { w.Write(over) })} {
		b, err := Gunzip(raw)
		if err == nil || b != nil {
			t.Fatalf("over the limit: %d bytes, %v; want an error", len(b), err)
		}
	}
}

// TestPlanBudget: a plan over MaxPlanBytes (here from an image whose config is huge: image
// config is not user data, so only the plan budget bounds it) fails Compile with one line
// naming the limit; Encode refuses it; ReadFile refuses a file over the limit.
func TestPlanBudget(t *testing.T) {
	md := `{"config":{"Cmd":["/bin/true"],"Env":["BIG=` + strings.Repeat("x", MaxPlanBytes) + `"]}}`
	_, _, err := Compile(Inputs{Metadata: []byte(md), Now: goldenNow})
	if err == nil || !strings.Contains(err.Error(), "8 MiB") {
		t.Fatalf("Compile: %v; want the plan budget error", err)
	}
	p := &Plan{Version: Version, Env: []EnvVar{{Name: "BIG", Value: strings.Repeat("x", MaxPlanBytes)}}}
	if b, err := Encode(p); err == nil || b != nil {
		t.Fatalf("Encode of an oversized plan: %d bytes, %v", len(b), err)
	}
	path := filepath.Join(t.TempDir(), "plan.toml")
	if err := os.WriteFile(path, bytes.Repeat([]byte("#\n"), MaxPlanBytes/2+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "8 MiB") {
		t.Fatalf("ReadFile of an oversized file: %v", err)
	}
}

// TestDiagnosticsBudget: 100k bad list items give at most maxDiagnostics+1 diagnostics and
// a bounded allocation; dropped errors still fail the compile, dropped warnings do not.
func TestDiagnosticsBudget(t *testing.T) {
	for _, tc := range []struct {
		name, ud string
		wantErr  bool
	}{
		{"errors", "env: [" + strings.Repeat("1,", 100000) + "1]\n", true},
		{"warnings", "volumes: [" + strings.Repeat("{},", 60000) + "{}]\n", false},
		{"warnings-then-errors", "volumes: [" + strings.Repeat("{},", 200) + "{}]\nworking-dir: relative\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			p, diags, err := Compile(Inputs{RawUserData: []byte(tc.ud), Strict: true, Now: time.Unix(0, 0), SkipUserLookup: true})
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("%d diagnostics, %d MB allocated, last %q", len(diags), alloc>>20, diags[len(diags)-1])
			if len(diags) > maxDiagnostics+1 {
				t.Errorf("%d diagnostics, want at most %d", len(diags), maxDiagnostics+1)
			}
			if !strings.Contains(diags[len(diags)-1].Message, "not shown") {
				t.Errorf("last diagnostic %q does not count the dropped ones", diags[len(diags)-1])
			}
			if (err != nil) != tc.wantErr || (p == nil) != tc.wantErr {
				t.Errorf("err %v, want error %v", err, tc.wantErr)
			}
			if alloc > allocBudget {
				t.Errorf("allocated %d MB, want < %d MB", alloc>>20, allocBudget>>20)
			}
		})
	}
}
