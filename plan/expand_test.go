package plan

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "$(A)", "EMPTY": "", "X Y": "xy"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y", "xay"},
		{"$(A)$(A)", "aa"},
		{"$(B)", "$(A)"},             // no recursion
		{"$(UNKNOWN)", "$(UNKNOWN)"}, // unknown verbatim
		{"$(EMPTY)", ""},
		{"$$", "$"},
		{"$$(A)", "$(A)"}, // escaped reference
		{"$$$(A)", "$a"},
		{"$$$$", "$$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"${A}", "${A}"},
		{"$(A", "$(A"},         // unterminated
		{"$(A$(A)", "$(A$(A)"}, // the first ")" closes the name "A$(A" (unknown)
		{"$(", "$("},
		{"$(a $$", "$(a $"}, // unterminated "$(" is literal, scanning continues
		{"$()", "$()"},      // empty name: unknown
		{"$(X Y)", "xy"},    // any name between the parentheses
		{"100$%", "100$%"},
		{"ü$(A)ü", "üaü"},
	} {
		if got := Expand(tc.in, lookup); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	ev := func(kv ...string) []EnvVar {
		var out []EnvVar
		for i := 0; i < len(kv); i += 2 {
			out = append(out, EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	img := func(kv ...string) []EnvVar {
		out := ev(kv...)
		for i := range out {
			out[i].Literal = true
		}
		return out
	}
	cat := func(parts ...[]EnvVar) []EnvVar {
		var out []EnvVar
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	withPath := func(e []EnvVar) []EnvVar { return append(e, EnvVar{Name: "PATH", Value: DefaultPath}) }
	for _, tc := range []struct {
		name         string
		static, from []EnvVar
		want         []EnvVar
	}{
		{"empty gets PATH", nil, nil, withPath(nil)},
		{"PATH kept", ev("PATH", "/bin"), nil, ev("PATH", "/bin")},
		{"PATH from source", ev("P", "$(PATH)"), ev("PATH", "/x"), ev("P", "/x", "PATH", "/x")},
		// Precedence (easyto): image Env, then user env, then env-from, each replacing an
		// earlier value of the same name in place.
		{"env-from overrides image Env in place", cat(img("INSTANCE_ID", "from-image", "B", "b")), ev("INSTANCE_ID", "i-123"), withPath(ev("INSTANCE_ID", "i-123", "B", "b"))},
		{"env-from overrides user env in place", ev("A", "user", "B", "b"), ev("A", "src", "C", "c"), withPath(ev("A", "src", "B", "b", "C", "c"))},
		{"user env refers to the env-from value that replaced another", ev("A", "placeholder", "URL", "db:$(A)"), ev("A", "s3cr3t"), withPath(ev("A", "s3cr3t", "URL", "db:s3cr3t"))},
		{"later source wins", nil, ev("A", "1", "A", "2"), withPath(ev("A", "2"))},
		// A name user data lists twice: env-from replaces the first; the last one still gives
		// the final value (easyto's addEnvVar, then its final map).
		{"duplicate user entries: env-from replaces the first, the last wins", ev("A", "1", "A", "2"), ev("A", "src"), withPath(ev("A", "2"))},
		{"duplicate user entries: last wins, one entry", ev("A", "1", "B", "b", "A", "$(B)2"), nil, withPath(ev("A", "b2", "B", "b"))},
		// $(VAR): every entry, earlier or later, with its unexpanded value; one pass.
		{"forward reference", ev("A", "$(B)", "B", "x"), nil, withPath(ev("A", "x", "B", "x"))},
		{"backward reference", ev("A", "1", "B", "$(A)2"), nil, withPath(ev("A", "1", "B", "12"))},
		{"no recursion", ev("A", "1", "B", "$(A)2", "C", "$(B)3"), nil, withPath(ev("A", "1", "B", "12", "C", "$(A)23"))},
		{"self reference stays", ev("A", "<$(A)>"), nil, withPath(ev("A", "<<$(A)>>"))},
		{"unknown stays verbatim", ev("A", "$(NOPE)"), nil, withPath(ev("A", "$(NOPE)"))},
		{"escape", ev("A", "$$(HOME)"), nil, withPath(ev("A", "$(HOME)"))},
		{"reference to the image", cat(img("HOME", "/home/app"), ev("D", "$(HOME)/data")), nil, withPath(ev("HOME", "/home/app", "D", "/home/app/data"))},
		{"reference to a later env-from", ev("URL", "db:$(PW)"), ev("PW", "s3cr$(t)"), withPath(ev("URL", "db:s3cr$(t)", "PW", "s3cr$(t)"))},
		// Image Env and fetched values are literal (easyto rewrote $$ in them: a bug we fix).
		{"image Env literal", cat(img("I", "$$x$(A)", "A", "a"), ev("U", "$(I)")), nil, withPath(ev("I", "$$x$(A)", "A", "a", "U", "$$x$(A)"))},
		{"env-from values literal", nil, ev("X", "$$(Y)", "Y", "y"), withPath(ev("X", "$$(Y)", "Y", "y"))},
		{"env-from replacing a user entry is literal", ev("X", "$(Y)", "Y", "y"), ev("X", "$(Y)"), withPath(ev("X", "$(Y)", "Y", "y"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveEnv(tc.static, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// memDuring returns the bytes f allocated.
func memDuring(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// TestResolveEnvBudget: the reproduction of issue 10 (seven entries, each $(PREV) ten times,
// took 3.8 GB) stays small with one-pass expansion, and a value that does multiply (a large
// value referenced many times) stops at the kernel's per-string limit with an error naming
// the variable, having allocated little more than that limit.
func TestResolveEnvBudget(t *testing.T) {
	chain := []EnvVar{{Name: "A", Value: strings.Repeat("x", 1000)}}
	prev := "A"
	for _, n := range []string{"B", "C", "D", "E", "F", "G"} {
		chain = append(chain, EnvVar{Name: n, Value: strings.Repeat("$("+prev+")", 10)})
		prev = n
	}
	var env []EnvVar
	var err error
	if n := memDuring(func() { env, err = ResolveEnv(chain, nil) }); err != nil || n > 1<<20 {
		t.Fatalf("chain: allocated %d bytes, err %v", n, err)
	}
	if env[1].Value != strings.Repeat(chain[0].Value, 10) || env[6].Value != strings.Repeat("$(E)", 10*10) {
		t.Errorf("chain: B %d bytes, G %q...", len(env[1].Value), env[6].Value[:12])
	}

	big := strings.Repeat("s", 100<<10) // a fetched value, 100 KiB: fits alone
	for _, tc := range []struct {
		name         string
		static, from []EnvVar
		err          string
	}{
		{"multiplied fetched value", []EnvVar{{Name: "MANY", Value: strings.Repeat("$(BIG)", 1000)}}, []EnvVar{{Name: "BIG", Value: big}},
			"env MANY: its value with $(VAR) references expanded is longer than the kernel allows for one variable (128 KiB with the name, MAX_ARG_STRLEN)"},
		{"fetched value too long", nil, []EnvVar{{Name: "HUGE", Value: strings.Repeat("s", 128<<10)}}, "env HUGE: the value env-from fetched is longer than the kernel allows"},
		{"image value too long", []EnvVar{{Name: "IMG", Value: strings.Repeat("i", 200<<10), Literal: true}}, nil, "env IMG: its value is longer than the kernel allows"},
		{"all together too long", func() []EnvVar {
			var out []EnvVar
			for i := 0; i < 30; i++ {
				out = append(out, EnvVar{Name: fmt.Sprintf("V%02d", i), Value: "$(BIG)"})
			}
			return out
		}(), []EnvVar{{Name: "BIG", Value: big}}, "env V20: the environment grows past the kernel's limit for all variables and arguments together (2044 KiB, ARG_MAX) at this variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := memDuring(func() { env, err = ResolveEnv(tc.static, tc.from) })
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "sss") || strings.Contains(err.Error(), "iii") {
				t.Errorf("the error shows the value: %.80s", err)
			}
			if n > 4<<20 {
				t.Errorf("allocated %d bytes before failing", n)
			}
		})
	}
	// Just at the limit: fits.
	name := "N"
	if _, err := ResolveEnv(nil, []EnvVar{{Name: name, Value: strings.Repeat("s", MaxArgStrlen-len(name)-2)}}); err != nil {
		t.Errorf("a value at the limit: %v", err)
	}
}

func TestExpandMax(t *testing.T) {
	lookup := func(n string) (string, bool) { return "12345", n == "X" }
	for _, tc := range []struct {
		in   string
		max  int
		want string
		ok   bool
	}{
		{"$(X)$(X)", 10, "1234512345", true},
		{"$(X)$(X)", 9, "", false},
		{"$(X)$(X)a", 10, "", false},
		{"abc", 2, "", false},
		{"abc", 3, "abc", true},
		{"$(Y)", 4, "$(Y)", true},
		{"$(Y)", 3, "", false},
		{"$$$", 2, "$$", true},
		{"$(X)", -1, "12345", true},
	} {
		got, ok := ExpandMax(tc.in, lookup, tc.max)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ExpandMax(%q, %d) = %q, %v; want %q, %v", tc.in, tc.max, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExpandArgv(t *testing.T) {
	got, err := ExpandArgv([]string{"/bin/$(P)", "--x=$(X)", "$$(X)"}, []EnvVar{{Name: "P", Value: "app"}, {Name: "X", Value: "1"}})
	if want := []string{"/bin/app", "--x=1", "$(X)"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	big := []EnvVar{{Name: "BIG", Value: strings.Repeat("s", 100<<10)}}
	n := memDuring(func() { _, err = ExpandArgv([]string{"/bin/app", strings.Repeat("$(BIG)", 10000)}, big) })
	if err == nil || !strings.Contains(err.Error(), "command argv[1]: longer than the kernel allows for one argument") || n > 4<<20 {
		t.Errorf("one argument: %v (allocated %d bytes)", err, n)
	}
	argv := []string{"/bin/app"}
	for i := 0; i < 30; i++ {
		argv = append(argv, "$(BIG)")
	}
	if _, err := ExpandArgv(argv, big); err == nil || !strings.Contains(err.Error(), "command argv[20]: the environment (1 variables) and the arguments together grow past the kernel's limit (2044 KiB, ARG_MAX)") {
		t.Errorf("all together: %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/ls", "-l"}, "/bin/ls -l"},
		{[]string{"echo", "a b", ""}, "echo 'a b' ''"},
		{[]string{"sh", "-c", "it's"}, `sh -c 'it'\''s'`},
		{[]string{"sh", "-c", "echo 1\necho 'x'\t\x01"}, `sh -c $'echo 1\necho \'x\'\t\x01'`},
	} {
		if got := ShellQuote(tc.argv); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.argv, got, tc.want)
		}
	}
}

// FuzzExpandMax: with a budget the result is Expand's whenever that fits, and refused exactly
// when it does not.
func FuzzExpandMax(f *testing.F) {
	for _, s := range []string{"", "$(A)", "$$(A)$(B)", "x$(A)$(A)$(", "$(A$(B))", "$", "$$$", "$(B)$(NOPE)"} {
		f.Add(s, 5)
	}
	vars := map[string]string{"A": "aaaa", "B": "$(A)"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 {
			limit = -limit
		}
		limit %= 1 << 16
		want := Expand(s, lookup)
		got, ok := ExpandMax(s, lookup, limit)
		if ok != (len(want) <= limit) || (ok && got != want) {
			t.Fatalf("ExpandMax(%q, %d) = %q, %v; Expand = %q", s, limit, got, ok, want)
		}
	})
}
