package kmod

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// FuzzParseDep: modules.dep and modules.builtin contents never make the parsers, the planner
// or Resolve panic (cycles, self-dependencies, odd names), and a plan lists each file once,
// the named module last.
func FuzzParseDep(f *testing.F) {
	f.Add([]byte(depFixture), "br_netfilter")
	f.Add([]byte(depFixture), "cyc1")
	f.Add([]byte("a.ko: a.ko\n"), "a")
	f.Add([]byte("x/a-b.ko.xz: /abs/c.ko c.ko\n# comment\n\n:\n"), "a_b")
	f.Add([]byte("kernel/fs/ext4/ext4.ko\n"), "ext4")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		d, err := ParseDep(strings.NewReader(string(data)))
		if err == nil {
			if files, err := Plan(d, name); err == nil {
				seen := map[string]bool{}
				for _, fl := range files {
					if seen[fl] {
						t.Fatalf("Plan(%q) lists %s twice: %q", name, fl, files)
					}
					seen[fl] = true
				}
				if len(files) == 0 || NameOf(files[len(files)-1]) != Normalize(name) {
					t.Fatalf("Plan(%q) = %q: the module is not last", name, files)
				}
			}
		}
		_, _ = ParseBuiltin(strings.NewReader(string(data)))
		read := func(p string) ([]byte, error) {
			switch path.Base(p) {
			case "modules.dep", "modules.builtin":
				return data, nil
			}
			return nil, fs.ErrNotExist
		}
		if ix, err := Open(read, "/", "6.1.0"); err == nil {
			_, _, _ = ix.Resolve(name)
			_ = ix.Load(name, "p=1", func(string, string) error { return nil })
			_ = ix.Load(name, "", func(string, string) error { return errors.New("no") })
		}
	})
}

// FuzzParseAlias: modules.alias contents and the name matched against them never make
// ParseAlias or MatchAlias panic (bad glob patterns included), and a match is listed once.
func FuzzParseAlias(f *testing.F) {
	f.Add([]byte("alias fs-xfs xfs\nalias pci:v00001D0Fd0000EC20sv*sd*bc*sc*i* ena\n"), "pci:v00001D0Fd0000EC20sv00001D0Fsd00000000bc02sc00i00")
	f.Add([]byte("alias virtio:d00000001v* virtio_net\n# c\n"), "virtio:d00000001v00001AF4")
	f.Add([]byte("alias [a-\\ x\nalias * y\nalias [-] z\n"), "a-b")
	f.Add([]byte("alias a\n"), "a")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		aliases, err := ParseAlias(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		got := MatchAlias(aliases, name)
		for _, m := range got {
			if seen[m] {
				t.Fatalf("MatchAlias lists %s twice", m)
			}
			seen[m] = true
		}
		// The literal-prefix shortcut never changes the answer of a plain path.Match scan.
		var want []string
		wseen := map[string]bool{}
		for _, a := range aliases {
			if ok, err := path.Match(normalizeAlias(a.Pattern), normalizeAlias(name)); err == nil && ok && !wseen[a.Module] {
				wseen[a.Module] = true
				want = append(want, a.Module)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("MatchAlias(%q) = %v, plain scan %v", name, got, want)
		}
	})
}
