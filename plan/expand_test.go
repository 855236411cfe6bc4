package plan

import (
	"reflect"
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
	withPath := func(e []EnvVar) []EnvVar { return append(e, EnvVar{Name: "PATH", Value: DefaultPath}) }
	for _, tc := range []struct {
		name         string
		static, from []EnvVar
		want         []EnvVar
	}{
		{"empty gets PATH", nil, nil, withPath(nil)},
		{"PATH kept", ev("PATH", "/bin"), nil, ev("PATH", "/bin")},
		{"static sees env-from", ev("URL", "db:$(PW)"), ev("PW", "s3cr$(t)"), withPath(ev("PW", "s3cr$(t)", "URL", "db:s3cr$(t)"))},
		{"env-from values opaque", nil, ev("X", "$$(Y)"), withPath(ev("X", "$$(Y)"))},
		{"earlier static visible, expanded", ev("A", "1", "B", "$(A)2", "C", "$(B)3"), nil, withPath(ev("A", "1", "B", "12", "C", "123"))},
		{"later static not visible", ev("A", "$(B)", "B", "x"), nil, withPath(ev("A", "$(B)", "B", "x"))},
		{"static overrides env-from in place", ev("A", "static"), ev("A", "src", "B", "b"), withPath(ev("A", "static", "B", "b"))},
		{"static refers to env-from it overrides", ev("A", "<$(A)>"), ev("A", "src"), withPath(ev("A", "<src>"))},
		{"later source wins", nil, ev("A", "1", "A", "2"), withPath(ev("A", "2"))},
		{"duplicate static: last wins", ev("A", "1", "A", "$(A)2"), nil, withPath(ev("A", "12"))},
		{"escape", ev("A", "$$(HOME)"), nil, withPath(ev("A", "$(HOME)"))},
		{"PATH from source", ev("P", "$(PATH)"), ev("PATH", "/x"), ev("PATH", "/x", "P", "/x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResolveEnv(tc.static, tc.from); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
	// Literal (image) entries are not expanded, but later entries see them.
	got := ResolveEnv([]EnvVar{{Name: "I", Value: "$$x$(A)", Literal: true}, {Name: "U", Value: "$(I)"}}, []EnvVar{{Name: "A", Value: "a"}})
	want := []EnvVar{{Name: "A", Value: "a"}, {Name: "I", Value: "$$x$(A)"}, {Name: "U", Value: "$$x$(A)"}, {Name: "PATH", Value: DefaultPath}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("literal: got %v, want %v", got, want)
	}
}

func TestExpandArgv(t *testing.T) {
	got := ExpandArgv([]string{"/bin/$(P)", "--x=$(X)", "$$(X)"}, []EnvVar{{Name: "P", Value: "app"}, {Name: "X", Value: "1"}})
	if want := []string{"/bin/app", "--x=1", "$(X)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
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
