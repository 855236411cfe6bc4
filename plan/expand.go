package plan

import (
	"fmt"
	"strings"
)

// Kernel limits on what execve accepts (Linux): one argv or environment string, "NAME=VALUE"
// with its terminating NUL, may be at most MAX_ARG_STRLEN = 32 pages = 128 KiB; all strings
// together, with one pointer each, at most a quarter of the stack limit (ARG_MAX, 2 MiB with
// the default 8 MiB stack of PID 1). MaxExecBytes keeps a page free for the program's path.
const (
	MaxArgStrlen = 128 << 10
	MaxExecBytes = 2<<20 - 4096
	execPtrSize  = 8
)

// MaxTemplateVariables bounds the string values of one template's variables, all together,
// after $(VAR) expansion: a string referencing a large variable many times cannot exhaust
// PID 1's memory.
const MaxTemplateVariables = 4 << 20

// Expand replaces $(NAME) references in s with Kubernetes semantics, exactly:
//
//   - $(NAME) becomes lookup(NAME) when lookup knows NAME, else stays verbatim ("$(NAME)");
//   - $$ becomes a single $ (so $$(NAME) is the literal text "$(NAME)");
//   - $ followed by anything else, or at the end, is a literal $;
//   - an unterminated "$(" is literal and scanning continues after the "(";
//   - there is no recursion: a looked-up value is inserted as is, even if it holds $(...);
//   - ${NAME} and $NAME are not references.
//
// Expand has no size limit: use ExpandMax for anything user data or a source controls.
func Expand(s string, lookup func(name string) (string, bool)) string {
	out, _ := ExpandMax(s, lookup, -1)
	return out
}

// ExpandMax is Expand with a budget: when the result would be longer than limit bytes it
// stops before writing more and returns ok = false. A negative limit means none. Memory used
// stays within about twice the limit (the builder's growth), whatever the references
// multiply to.
func ExpandMax(s string, lookup func(name string) (string, bool), limit int) (out string, ok bool) {
	fits := func(n int) bool { return limit < 0 || n <= limit }
	if !strings.Contains(s, "$") {
		if !fits(len(s)) {
			return "", false
		}
		return s, true
	}
	var b strings.Builder
	write := func(x string) bool {
		if !fits(b.Len() + len(x)) {
			return false
		}
		b.WriteString(x)
		return true
	}
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		if !write(s[checkpoint:cursor]) {
			return "", false
		}
		rest := s[cursor+1:]
		advance := 1
		var piece string
		switch rest[0] {
		case '$':
			piece = "$"
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				piece = s[cursor : cursor+2]
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				piece = v
			} else {
				piece = s[cursor : cursor+end+2] // verbatim "$(NAME)"
			}
			advance = end + 1
		default:
			piece = s[cursor : cursor+2]
		}
		if !write(piece) {
			return "", false
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	if !write(s[checkpoint:]) {
		return "", false
	}
	return b.String(), true
}

// ResolveEnv builds the command's final environment the way easyto-init does. Stage two calls
// it after fetching the env-from sources.
//
//  1. The list starts as static (plan.Env: the image's Env, then user data's env; Compile has
//     already dropped the image entries user data names).
//  2. Each value fetched by env-from (fromSources, in plan order) replaces, in place, the value
//     of the first entry with the same name, or is appended. So a source overrides both the
//     image's Env and user data's env (easyto's addEnvVar).
//  3. The mapping for $(NAME) holds every entry with its unexpanded value; for a name that
//     appears more than once the last entry's value. Every entry of user data's env is then
//     expanded once against it: a reference may point to an earlier or a later entry, and the
//     value inserted is not expanded again (no recursion, as easyto). Entries marked Literal
//     (the image's own Env) and values fetched by env-from are never expanded: easyto rewrote
//     "$$" in them, which is a bug (README, Differences from easyto).
//  4. The result has one entry per name, at its first position, with the last entry's value
//     (easyto's final environment map); PATH=DefaultPath is appended when no PATH is present.
//
// Every "NAME=VALUE" must fit the kernel's MAX_ARG_STRLEN and all of them together
// MaxExecBytes: otherwise the error names the variable, never its value. Expansion stops at the
// budget, so a value referencing a large one many times cannot exhaust memory. Inputs are not
// modified.
func ResolveEnv(static []EnvVar, fromSources []EnvVar) ([]EnvVar, error) {
	type entry struct {
		EnvVar
		fetched bool
	}
	list := make([]entry, 0, len(static)+len(fromSources)+1)
	first := map[string]int{}
	add := func(e EnvVar, fetched bool) {
		if i, ok := first[e.Name]; ok && fetched {
			list[i] = entry{e, true}
			return
		}
		if _, ok := first[e.Name]; !ok {
			first[e.Name] = len(list)
		}
		list = append(list, entry{e, fetched})
	}
	for _, e := range static {
		add(e, false)
	}
	for _, e := range fromSources {
		add(e, true)
	}
	if _, ok := first["PATH"]; !ok {
		add(EnvVar{Name: "PATH", Value: DefaultPath, Literal: true}, false)
	}
	// The last entry of each name gives the mapping's value and the final value.
	last := make(map[string]int, len(first))
	for i, e := range list {
		last[e.Name] = i
	}
	lookup := func(name string) (string, bool) {
		if i, ok := last[name]; ok {
			return list[i].Value, true
		}
		return "", false
	}
	out := make([]EnvVar, 0, len(first))
	total := 0
	for i, e := range list {
		if first[e.Name] != i {
			continue
		}
		l := list[last[e.Name]]
		limit := MaxArgStrlen - len(e.Name) - 2 // "NAME=" and the NUL
		v, ok := l.Value, len(l.Value) <= limit
		if !l.Literal && !l.fetched {
			v, ok = ExpandMax(l.Value, lookup, limit)
		}
		if !ok {
			what := "its value"
			switch {
			case l.fetched:
				what = "the value env-from fetched"
			case !l.Literal && strings.Contains(l.Value, "$("):
				what = "its value with $(VAR) references expanded"
			}
			return nil, fmt.Errorf("env %s: %s is longer than the kernel allows for one variable (%d KiB with the name, MAX_ARG_STRLEN): make it smaller", e.Name, what, MaxArgStrlen>>10)
		}
		total += len(e.Name) + len(v) + 2 + execPtrSize
		if total > MaxExecBytes {
			return nil, fmt.Errorf("env %s: the environment grows past the kernel's limit for all variables and arguments together (%d KiB, ARG_MAX) at this variable: make the environment smaller", e.Name, MaxExecBytes>>10)
		}
		out = append(out, EnvVar{Name: e.Name, Value: v})
	}
	return out, nil
}

// envBytes is what env takes in execve's budget: each "NAME=VALUE" with its NUL and pointer.
func envBytes(env []EnvVar) int {
	n := 0
	for _, e := range env {
		n += len(e.Name) + len(e.Value) + 2 + execPtrSize
	}
	return n
}

// ExpandArgv expands every element of argv against env (the output of ResolveEnv). Each
// element must fit MAX_ARG_STRLEN and argv with env MaxExecBytes; the error names the
// element, never its value.
func ExpandArgv(argv []string, env []EnvVar) ([]string, error) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) { v, ok := m[name]; return v, ok }
	total := envBytes(env)
	out := make([]string, len(argv))
	for i, a := range argv {
		v, ok := ExpandMax(a, lookup, MaxArgStrlen-1)
		if !ok {
			return nil, fmt.Errorf("command argv[%d]: longer than the kernel allows for one argument after $(VAR) expansion (%d KiB, MAX_ARG_STRLEN): make it smaller", i, MaxArgStrlen>>10)
		}
		total += len(v) + 1 + execPtrSize
		if total > MaxExecBytes {
			return nil, fmt.Errorf("command argv[%d]: the environment (%d variables) and the arguments together grow past the kernel's limit (%d KiB, ARG_MAX) at this argument: make them smaller", i, len(env), MaxExecBytes>>10)
		}
		out[i] = v
	}
	return out, nil
}
