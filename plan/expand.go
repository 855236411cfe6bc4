package plan

import "strings"

// Expand replaces $(NAME) references in s with Kubernetes semantics, exactly:
//
//   - $(NAME) becomes lookup(NAME) when lookup knows NAME, else stays verbatim ("$(NAME)");
//   - $$ becomes a single $ (so $$(NAME) is the literal text "$(NAME)");
//   - $ followed by anything else, or at the end, is a literal $;
//   - an unterminated "$(" is literal and scanning continues after the "(";
//   - there is no recursion: a looked-up value is inserted as is, even if it holds $(...);
//   - ${NAME} and $NAME are not references.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:cursor])
		rest := s[cursor+1:]
		advance := 1
		switch rest[0] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				b.WriteString("$(")
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			advance = end + 1
		default:
			b.WriteByte('$')
			b.WriteByte(rest[0])
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	b.WriteString(s[checkpoint:])
	return b.String()
}

// ResolveEnv builds the command's final environment. Stage two calls it after fetching the
// env-from sources. The order is Kubernetes' (env over envFrom):
//
//  1. fromSources (values fetched by env-from, in plan order) come first and are opaque: never
//     expanded. A later source value with the same name replaces an earlier one in place.
//  2. Each static entry (plan.Env: the image's Env merged with user data's env) is then, in
//     order, expanded against everything resolved so far — the env-from values and the earlier
//     static entries, already expanded. A later static entry is not visible to an earlier one.
//     Entries marked Literal (the image's own Env) are not expanded.
//     A static entry whose name is already present replaces that value in place: static env
//     wins over env-from, and a later static entry wins over an earlier one.
//  3. When no PATH is present, PATH=DefaultPath is appended.
//
// The result has one entry per name, in first-appearance order. Inputs are not modified.
func ResolveEnv(static []EnvVar, fromSources []EnvVar) []EnvVar {
	out := make([]EnvVar, 0, len(static)+len(fromSources)+1)
	index := map[string]int{}
	add := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, EnvVar{Name: name, Value: value})
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}
	for _, e := range fromSources {
		add(e.Name, e.Value)
	}
	for _, e := range static {
		v := e.Value
		if !e.Literal {
			v = Expand(v, lookup)
		}
		add(e.Name, v)
	}
	if _, ok := index["PATH"]; !ok {
		add("PATH", DefaultPath)
	}
	return out
}

// ExpandArgv expands every element of argv against env (the output of ResolveEnv).
func ExpandArgv(argv []string, env []EnvVar) []string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) { v, ok := m[name]; return v, ok }
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = Expand(a, lookup)
	}
	return out
}
