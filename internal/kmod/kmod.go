// Package kmod finds kernel modules and their dependencies the way modprobe does, from the
// files depmod writes under /lib/modules/<release>: modules.dep (dependencies),
// modules.alias (alias patterns → module names) and modules.builtin (modules compiled into
// the kernel). The parsers and the planning are pure; loading goes through a caller-supplied
// function (finit_module on the machine, a journal in the sandbox).
package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// Normalize returns the canonical form of a module name: dashes become underscores, as the
// kernel and modprobe treat them as the same.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// NameOf returns the module name of a module file path ("kernel/net/bridge/br_netfilter.ko.xz"
// → "br_netfilter").
func NameOf(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return Normalize(base)
}

// Dep is a parsed modules.dep: for each module name, its file and the files of its direct
// dependencies as listed (paths relative to the release directory, or absolute).
type Dep struct {
	File map[string]string   // name → file
	Deps map[string][]string // name → dependency files
}

// ParseDep parses modules.dep ("file: dep dep ...", one module a line).
func ParseDep(r io.Reader) (Dep, error) {
	d := Dep{File: map[string]string{}, Deps: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		file, deps, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" {
			return Dep{}, fmt.Errorf("modules.dep:%d: want \"module.ko: dependencies\", got %q", n, line)
		}
		name := NameOf(file)
		if _, dup := d.File[name]; dup {
			continue // first one wins, as in modprobe
		}
		d.File[name] = file
		d.Deps[name] = strings.Fields(deps)
	}
	if err := sc.Err(); err != nil {
		return Dep{}, fmt.Errorf("modules.dep: %w", err)
	}
	return d, nil
}

// Plan returns the module files to load for name, dependencies first, each once. It walks the
// dependency graph depth first (modules.dep lists a module's whole closure, deepest last, but
// the walk does not rely on that order).
func Plan(d Dep, name string) ([]string, error) {
	name = Normalize(name)
	if _, ok := d.File[name]; !ok {
		return nil, fmt.Errorf("module %s: not in modules.dep", name)
	}
	var out []string
	extra := map[string]string{} // dependencies listed without a line of their own
	fileOf := func(n string) string {
		if f, ok := d.File[n]; ok {
			return f
		}
		return extra[n]
	}
	state := map[string]int{} // 1 = visiting, 2 = done
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module %s: dependency cycle %s", name, strings.Join(append(chain, n), " → "))
		}
		state[n] = 1
		deps := d.Deps[n]
		for i := len(deps) - 1; i >= 0; i-- {
			dn := NameOf(deps[i])
			if fileOf(dn) == "" {
				// A dependency without its own line: load it as listed, with no deps of its own.
				extra[dn] = deps[i]
			}
			if err := visit(dn, append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, fileOf(n))
		return nil
	}
	if err := visit(name, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// Alias is one line of modules.alias: a glob pattern and the module it names.
type Alias struct {
	Pattern string
	Module  string
	// norm is Pattern normalized (normalizeAlias), set by ParseAlias: matching a modalias
	// against a full modules.alias (tens of thousands of lines) then allocates nothing.
	norm string
}

// ParseAlias parses modules.alias ("alias PATTERN MODULE" lines).
func ParseAlias(r io.Reader) ([]Alias, error) {
	var out []Alias
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 || f[0] != "alias" {
			return nil, fmt.Errorf("modules.alias:%d: want \"alias PATTERN MODULE\", got %q", n, sc.Text())
		}
		out = append(out, Alias{Pattern: f[1], Module: Normalize(f[2]), norm: normalizeAlias(f[1])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.alias: %w", err)
	}
	return out, nil
}

// normalizeAlias turns dashes into underscores outside [...] classes, as modprobe does.
func normalizeAlias(s string) string {
	b := []byte(s)
	in := false
	for i, c := range b {
		switch {
		case c == '[':
			in = true
		case c == ']':
			in = false
		case c == '-' && !in:
			b[i] = '_'
		}
	}
	return string(b)
}

// MatchAlias returns the modules whose alias pattern matches name, in file order, each once.
func MatchAlias(aliases []Alias, name string) []string {
	name = normalizeAlias(name)
	var out []string
	seen := map[string]bool{}
	for _, a := range aliases {
		pat := a.norm
		if pat == "" {
			pat = normalizeAlias(a.Pattern)
		}
		// The literal start of the pattern rules out nearly every line without a glob match.
		lit := strings.IndexAny(pat, "*?[\\")
		if lit < 0 {
			lit = len(pat)
		}
		if !strings.HasPrefix(name, pat[:lit]) {
			continue
		}
		ok, err := path.Match(pat, name)
		if err != nil || !ok || seen[a.Module] {
			continue
		}
		seen[a.Module] = true
		out = append(out, a.Module)
	}
	return out
}

// ParseBuiltin parses modules.builtin (one module file a line) into a set of names.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		out[NameOf(line)] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.builtin: %w", err)
	}
	return out, nil
}

// Index is everything needed to resolve a module name on one kernel release.
type Index struct {
	Dir     string // /lib/modules/<release>
	Dep     Dep
	Aliases []Alias
	Builtin map[string]bool
}

// ReadFunc reads a file (the Host's ReadFile on the machine).
type ReadFunc func(path string) ([]byte, error)

// Open reads the index of the modules under root/lib/modules/release (root "" or "/" for the
// machine). modules.dep is required; modules.alias and modules.builtin are optional.
func Open(read ReadFunc, root, release string) (*Index, error) {
	if release == "" || strings.ContainsAny(release, "/\x00") || release == "." || release == ".." {
		return nil, fmt.Errorf("kernel release %q is not a directory name", release)
	}
	dir := path.Join("/", root, "lib/modules", release)
	ix := &Index{Dir: dir, Builtin: map[string]bool{}}
	b, err := read(path.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("%s/modules.dep: %w (run depmod for kernel %s)", dir, err, release)
	}
	if ix.Dep, err = ParseDep(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("%s/%w", dir, err)
	}
	if b, err := read(path.Join(dir, "modules.alias")); err == nil {
		if ix.Aliases, err = ParseAlias(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%s/%w", dir, err)
		}
	}
	if b, err := read(path.Join(dir, "modules.builtin")); err == nil {
		if ix.Builtin, err = ParseBuiltin(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%s/%w", dir, err)
		}
	}
	return ix, nil
}

// Resolve returns the absolute module files to load for name (a module name or an alias),
// dependencies first. builtin is true (and files empty) when the module is part of the kernel.
func (ix *Index) Resolve(name string) (files []string, builtin bool, err error) {
	n := Normalize(name)
	if ix.Builtin[n] {
		return nil, true, nil
	}
	if _, ok := ix.Dep.File[n]; !ok {
		mods := MatchAlias(ix.Aliases, name)
		if len(mods) == 0 {
			return nil, false, fmt.Errorf("module %s not found in %s (not in modules.dep, modules.alias or modules.builtin)", name, ix.Dir)
		}
		// modprobe loads every match; a name given by a person resolves to one in practice.
		for _, m := range mods {
			if ix.Builtin[m] {
				return nil, true, nil
			}
		}
		n = mods[0]
	}
	rel, err := Plan(ix.Dep, n)
	if err != nil {
		return nil, false, err
	}
	for _, f := range rel {
		if !path.IsAbs(f) {
			f = path.Join(ix.Dir, f)
		}
		files = append(files, f)
	}
	return files, false, nil
}

// Load loads name with params (the target module only), dependencies first, through load
// (finit_module: "already loaded" must be success there).
func (ix *Index) Load(name, params string, load func(file, params string) error) error {
	files, builtin, err := ix.Resolve(name)
	if err != nil || builtin {
		return err
	}
	for i, f := range files {
		p := ""
		if i == len(files)-1 {
			p = params
		}
		if err := load(f, p); err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
	}
	return nil
}
