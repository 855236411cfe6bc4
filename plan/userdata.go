package plan

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Opt is a user-data field with presence tracking: absent (Set=false), explicit null
// (Set and Null: `key:`, `key: ~`, `key: null`) or a value. Line/Col locate the value.
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
	Line int
	Col  int
}

// Has reports whether the field holds a (non-null) value.
func (o Opt[T]) Has() bool { return o.Set && !o.Null }

// UserData is the parsed user data (easyto's schema). Top-level and security fields keep
// presence; nested objects are already resolved to plan entries with their per-kind defaults.
type UserData struct {
	Args                Opt[[]string]
	Command             Opt[[]string]
	Debug               Opt[bool]
	DisableServices     Opt[[]string]
	Env                 Opt[[]EnvVar]
	EnvFrom             Opt[[]EnvFrom]
	InitScripts         Opt[[]string]
	Modules             Opt[[]Module]
	ReplaceInit         Opt[bool]
	Security            Opt[Security]
	ShutdownGracePeriod Opt[uint64]
	Sysctls             Opt[[]Sysctl]
	Volumes             Opt[[]UserVolume]
	WorkingDir          Opt[string]
}

// Security is user data's security object.
type Security struct {
	ReadonlyRootFS Opt[bool]
	RunAsUserID    Opt[uint32]
	RunAsGroupID   Opt[uint32]
	SSHDEnable     Opt[bool] // security.sshd.enable
}

// UserVolume is one plan volume from user data; ownership is resolved by Compile because it
// defaults to the run-as user.
type UserVolume struct {
	Volume
	UserID  Opt[uint32]
	GroupID Opt[uint32]
	at      volumeAt // where it is, for diagnostics naming two volumes
	ModeSet bool     // mount.mode was given (not the kind's default)
	skip    bool     // optional volume that would fail at boot: left out of the plan (warned)
}

// DefaultUserDataFile names user data in diagnostics.
const DefaultUserDataFile = "user-data"

const (
	maxNodes = 200000 // alias-expansion budget
	maxDepth = 64
)

// ParseUserData parses user data as fetched: gzip (1f 8b) is decompressed first. Empty or
// whitespace-only data is "no user data": it returns nil and no diagnostics. A comments-only
// document (or a lone null) gives an empty *UserData (all defaults). Unknown and duplicate keys
// are errors when strict is set, warnings otherwise; top-level keys starting with "x-" are
// extension keys (anchor holders, as in docker-compose) and are ignored silently. All problems are returned at once, in
// file order; the *UserData is nil if there is any error.
func ParseUserData(file string, raw []byte, strict bool) (*UserData, Diagnostics) {
	if file == "" {
		file = DefaultUserDataFile
	}
	p := &parser{file: file, strict: strict, budget: maxNodes}
	b, err := Gunzip(raw)
	if err != nil {
		p.errorf(nil, "", "%v", err)
		return nil, p.diags
	}
	if len(bytes.Trim(b, " \t\r\n")) == 0 {
		return nil, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &UserData{}, nil
		}
		p.yamlError(b, err)
		return nil, p.diags
	}
	// Before anything follows an alias: the expanded size, charged per use (plan/budget.go).
	if d := CheckExpansion(p.file, &doc); d != nil {
		return nil, Diagnostics{*d}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "", "user data holds more than one YAML document (found a second \"---\"): keep one")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(b, err)
	}
	ud := &UserData{}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return ud, p.sorted()
		}
		root = root.Content[0]
	}
	if r := p.resolve(root); r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		return ud, p.sorted()
	}
	p.topLevel(root, ud)
	diags := p.sorted()
	if diags.HasErrors() {
		return nil, diags
	}
	return ud, diags
}

// Gunzip decompresses b when it starts with the gzip magic (1f 8b); other input is returned
// as is. Either way the result is at most MaxUserDataBytes, else it is an error (decompression
// stops one byte past the limit: never a silent truncation).
func Gunzip(b []byte) ([]byte, error) {
	if len(b) > MaxUserDataBytes {
		return nil, errUserDataSize("as fetched")
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("user data looks gzip-compressed but is not valid gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxUserDataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("user data looks gzip-compressed but does not decompress: %v", err)
	}
	if len(out) > MaxUserDataBytes {
		return nil, errUserDataSize("after gzip decompression")
	}
	return out, nil
}

type parser struct {
	file      string
	strict    bool
	diags     Diagnostics
	budget    int
	exhausted bool
	dropped   [2]int // diagnostics over maxDiagnostics, by severity (plan/budget.go)
}

func (p *parser) add(sev Severity, n *yaml.Node, path, format string, args ...any) {
	if p.full(sev) {
		return
	}
	d := Diagnostic{File: p.file, Path: path, Message: fmt.Sprintf(format, args...), Severity: sev}
	if n != nil {
		d.Line, d.Col = n.Line, n.Column
	}
	if p.afterNUL(d) {
		return
	}
	p.diags = append(p.diags, d)
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.add(SeverityError, n, path, format, args...)
}

func (p *parser) warnf(n *yaml.Node, path, format string, args ...any) {
	p.add(SeverityWarning, n, path, format, args...)
}

// lenient reports something that is an error for `bootplan validate` and a warning at boot.
func (p *parser) lenient(n *yaml.Node, path, format string, args ...any) {
	sev := SeverityWarning
	if p.strict {
		sev = SeverityError
	}
	p.add(sev, n, path, format, args...)
}

func (p *parser) sorted() Diagnostics {
	sort.SliceStable(p.diags, func(i, j int) bool {
		a, b := p.diags[i], p.diags[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	p.summarizeDropped()
	return p.diags
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) yamlError(src []byte, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.yamlLine(e)
		}
		return
	}
	line, col, msg := locateYAMLError(src, err.Error()) // see yamlerr.go
	p.diags = append(p.diags, Diagnostic{File: p.file, Line: line, Col: col, Message: msg, Severity: SeverityError})
}

func (p *parser) yamlLine(msg string) {
	msg = oneLine(msg)
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.diags = append(p.diags, Diagnostic{File: p.file, Line: line, Message: "invalid YAML: " + m[2], Severity: SeverityError})
		return
	}
	p.diags = append(p.diags, Diagnostic{File: p.file, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Severity: SeverityError})
}

// resolve follows aliases and charges the node budget.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	p.budget--
	return n
}

func (p *parser) over(n *yaml.Node, depth int) bool {
	if p.budget >= 0 && depth <= maxDepth {
		return false
	}
	if !p.exhausted {
		p.exhausted = true
		p.errorf(n, "", "user data is too large or too deeply nested once aliases are expanded")
	}
	return true
}

func join(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

func index(base string, i int) string { return fmt.Sprintf("%s[%d]", base, i) }

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return fmt.Sprintf("%q", clip(n.Value))
	}
	return "an unsupported YAML node"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

type kv struct{ key, val *yaml.Node }

// object is a decoded mapping: its keys (merge keys applied, last duplicate wins) and its node.
type object struct {
	n      *yaml.Node
	path   string
	fields map[string]kv
}

// object decodes a mapping node, reporting unknown keys (with a hint) and duplicate keys.
func (p *parser) object(n *yaml.Node, path string, depth int, known ...string) (*object, bool) {
	n = p.resolve(n)
	if p.over(n, depth) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", describe(n))
		return nil, false
	}
	o := &object{n: n, path: path, fields: map[string]kv{}}
	p.collect(n, path, o.fields, known, depth)
	return o, true
}

func (p *parser) collect(n *yaml.Node, path string, out map[string]kv, known []string, depth int) {
	merged := map[string]kv{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kr := p.resolve(k)
		if kr.Kind == yaml.ScalarNode && kr.Tag == "!!merge" {
			vr := p.resolve(v)
			var srcs []*yaml.Node
			switch vr.Kind {
			case yaml.MappingNode:
				srcs = []*yaml.Node{vr}
			case yaml.SequenceNode:
				srcs = vr.Content
			}
			for _, s := range srcs {
				s = p.resolve(s)
				if p.over(s, depth+1) {
					return
				}
				if s.Kind != yaml.MappingNode {
					p.errorf(s, path, "merge key << must refer to a mapping or a list of mappings")
					continue
				}
				tmp := map[string]kv{}
				p.collect(s, path, tmp, known, depth+1)
				for name, e := range tmp {
					if _, ok := merged[name]; !ok { // earlier merged mappings win
						merged[name] = e
					}
				}
			}
			continue
		}
		if kr.Kind != yaml.ScalarNode || kr.Tag == "!!null" {
			p.errorf(k, path, "keys must be strings, got %s", describe(kr))
			continue
		}
		name := kr.Value
		if prev, dup := out[name]; dup {
			p.lenient(k, join(path, name), "duplicate key (first at line %d); the last one is used", prev.key.Line)
		}
		out[name] = kv{k, v}
		if !contains(known, name) && !(path == "" && strings.HasPrefix(name, "x-")) {
			p.unknownKey(k, path, name, known)
		}
	}
	for name, e := range merged {
		if _, ok := out[name]; !ok {
			out[name] = e
		}
	}
}

func (p *parser) unknownKey(k *yaml.Node, path, name string, known []string) {
	msg := fmt.Sprintf("unknown key %q", name)
	if strings.HasSuffix(path, "ebs") && (name == "fs-type" || name == "options" || name == "destination") {
		msg += fmt.Sprintf(" (did you mean mount.%s?)", name)
	} else if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if p.strict {
		p.errorf(k, join(path, name), "%s", msg)
	} else {
		p.warnf(k, join(path, name), "%s; ignored", msg)
	}
}

// suggest returns the known key closest to name (edit distance <= 2, or equal ignoring '_'/'-'
// and case), or "".
func suggest(name string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(name) {
			return k
		}
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// get returns an optional field decoded with conv.
func get[T any](p *parser, o *object, key string, conv func(*yaml.Node, string) (T, bool)) Opt[T] {
	e, ok := o.fields[key]
	if !ok {
		return Opt[T]{}
	}
	v := p.resolve(e.val)
	r := Opt[T]{Set: true, Line: e.val.Line, Col: e.val.Column}
	if isNull(v) {
		r.Null = true
		return r
	}
	r.V, _ = conv(e.val, join(o.path, key))
	return r
}

// required returns a required field; absent or null is reported as "field is required".
func required[T any](p *parser, o *object, key string, conv func(*yaml.Node, string) (T, bool)) (T, *yaml.Node) {
	var zero T
	e, ok := o.fields[key]
	if !ok {
		p.errorf(o.n, join(o.path, key), "field is required")
		return zero, nil
	}
	if isNull(p.resolve(e.val)) {
		p.errorf(e.val, join(o.path, key), "field is required (got null)")
		return zero, e.val
	}
	v, _ := conv(e.val, join(o.path, key))
	return v, e.val
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	s, ok := p.text(n, path)
	if ok && strings.IndexByte(s, 0) >= 0 {
		p.errorf(p.resolve(n), path, "%s", errNUL)
		return s, false // kept, so that no "must not be empty" follows
	}
	return s, ok
}

// text is str for file contents (template content, init scripts), where a NUL byte is data.
func (p *parser) text(n *yaml.Node, path string) (string, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "must be a string, got %s", describe(n))
		return "", false
	}
	if n.Tag == "!!binary" {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			p.errorf(n, path, "invalid !!binary value: %v", err)
			return "", false
		}
		return string(b), true
	}
	return n.Value, true
}

// strOrEmpty is str where null means "" (name-value values: `value:` with nothing after it).
func (p *parser) strOrEmpty(n *yaml.Node, path string) (string, bool) {
	if isNull(p.resolve(n)) {
		return "", true
	}
	return p.str(n, path)
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n = p.resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	}
	switch strings.ToLower(n.Value) {
	case "yes", "no", "on", "off", "y", "n":
		p.errorf(n, path, "must be true or false, got %s (YAML 1.2: yes/no/on/off are strings)", describe(n))
	default:
		p.errorf(n, path, "must be true or false, got %s", describe(n))
	}
	return false, false
}

func (p *parser) uint(n *yaml.Node, path string, max uint64) (uint64, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!str") {
		p.errorf(n, path, "must be a whole number, got %s", describe(n))
		return 0, false
	}
	s := strings.TrimSpace(n.Value)
	var v uint64
	switch {
	case n.Tag == "!!int":
		var i any
		if err := n.Decode(&i); err != nil {
			p.errorf(n, path, "must be a whole number between 0 and %d, got %s", max, describe(n))
			return 0, false
		}
		switch x := i.(type) {
		case int:
			if x < 0 {
				p.errorf(n, path, "must not be negative, got %d", x)
				return 0, false
			}
			v = uint64(x)
		case int64:
			if x < 0 {
				p.errorf(n, path, "must not be negative, got %d", x)
				return 0, false
			}
			v = uint64(x)
		case uint64:
			v = x
		default:
			p.errorf(n, path, "must be a whole number, got %s", describe(n))
			return 0, false
		}
	default:
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			v = u
			break
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			p.errorf(n, path, "must be a whole number, got %s", describe(n))
			return 0, false
		}
		if f < 0 {
			p.errorf(n, path, "must not be negative, got %s", s)
			return 0, false
		}
		if f != math.Trunc(f) || f > float64(max) {
			p.errorf(n, path, "must be a whole number between 0 and %d, got %s", max, s)
			return 0, false
		}
		v = uint64(f)
	}
	if v > max {
		p.errorf(n, path, "must be at most %d, got %d", max, v)
		return 0, false
	}
	return v, true
}

func (p *parser) u32(n *yaml.Node, path string) (uint32, bool) {
	v, ok := p.uint(n, path, math.MaxUint32)
	return uint32(v), ok
}

func (p *parser) seconds(n *yaml.Node, path string) (uint64, bool) {
	// Bounded so that the value fits the plan's int on every platform and in a time.Duration.
	return p.uint(n, path, math.MaxInt32)
}

// list decodes a sequence with elem; null elements are passed to elem (which reports them).
func list[T any](p *parser, n *yaml.Node, path string, elem func(*yaml.Node, string) (T, bool)) ([]T, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "must be a list, got %s", describe(n))
		return nil, false
	}
	out := make([]T, 0, len(n.Content))
	ok := true
	for i, e := range n.Content {
		if p.over(e, 0) {
			return nil, false
		}
		v, good := elem(e, index(path, i))
		ok = ok && good
		out = append(out, v)
	}
	return out, ok
}

// flatList is list for items that each stand for several elements (one env-from or volumes
// item may name several sources), flattened in order.
func flatList[T any](p *parser, n *yaml.Node, path string, item func(*yaml.Node, string) ([]T, bool)) ([]T, bool) {
	var out []T
	ok := true
	_, good := list(p, n, path, func(e *yaml.Node, ip string) (struct{}, bool) {
		items, good := item(e, ip)
		out = append(out, items...)
		ok = ok && good
		return struct{}{}, good
	})
	return out, ok && good
}

func (p *parser) strList(n *yaml.Node, path string) ([]string, bool) {
	return list(p, n, path, p.str)
}

func (p *parser) absPath(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if err := checkAbs(s); err != nil {
		p.errorf(n, path, "%v", err)
		return "", false
	}
	return cleanPath(s), true
}

func cleanPath(s string) string { return path.Clean(s) }

func (p *parser) mode(n *yaml.Node, path string) (Mode, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	m, err := ParseMode(t)
	if err != nil || t == "" {
		p.errorf(n, path, "invalid mode %q: want an octal permission such as \"0640\" (quote it)", s)
		return 0, false
	}
	return m, true
}

func (p *parser) topLevel(n *yaml.Node, ud *UserData) {
	r := p.resolve(n)
	if r.Kind != yaml.MappingNode {
		p.errorf(r, "", "user data must be a YAML mapping (keys such as command, env, volumes), got %s", describe(r))
		return
	}
	o, ok := p.object(n, "", 0, keysOf(UserDataSchema)...)
	if !ok {
		return
	}
	ud.Args = get(p, o, "args", p.strList)
	ud.Command = get(p, o, "command", p.strList)
	ud.Debug = get(p, o, "debug", p.boolean)
	ud.DisableServices = get(p, o, "disable-services", p.strList)
	ud.Env = get(p, o, "env", p.envList)
	ud.EnvFrom = get(p, o, "env-from", p.envFromList)
	ud.InitScripts = get(p, o, "init-scripts", p.scripts)
	ud.Modules = get(p, o, "modules", p.modules)
	ud.ReplaceInit = get(p, o, "replace-init", p.boolean)
	ud.Security = get(p, o, "security", p.security)
	ud.ShutdownGracePeriod = get(p, o, "shutdown-grace-period", p.seconds)
	ud.Sysctls = get(p, o, "sysctls", p.sysctls)
	ud.Volumes = get(p, o, "volumes", p.volumes)
	ud.WorkingDir = get(p, o, "working-dir", p.absPath)
	if ud.Command.Has() && len(ud.Command.V) > 0 && ud.Command.V[0] == "" {
		p.errorf(o.fields["command"].val, "command[0]", "the program must not be empty")
	}
	if !ud.Command.Has() && ud.Args.Has() && len(ud.Args.V) > 0 && ud.Args.V[0] == "" {
		p.warnf(o.fields["args"].val, "args[0]", "is empty: when the image has no entrypoint, args[0] is the program")
	}
	for i, s := range ud.DisableServices.V {
		if s != "chrony" && s != "ssh" {
			p.warnf(p.resolve(o.fields["disable-services"].val).Content[i], index("disable-services", i), "unknown service %q (known: chrony, ssh)", s)
		}
	}
}

func (p *parser) nameValue(n *yaml.Node, path string, nameCheck func(string) error) (string, string, bool) {
	o, ok := p.object(n, path, 1, keysOf(schemaNameValue)...)
	if !ok {
		return "", "", false
	}
	name, nn := required(p, o, "name", p.str)
	ok = nn != nil
	if nn != nil && !isNull(p.resolve(nn)) {
		if err := nameCheck(name); err != nil {
			p.errorf(nn, join(path, "name"), "%v", err)
			ok = false
		}
	}
	var value string
	if e, present := o.fields["value"]; !present {
		p.errorf(o.n, join(path, "value"), "field is required")
		ok = false
	} else {
		value, _ = p.strOrEmpty(e.val, join(path, "value"))
	}
	return name, value, ok
}

func (p *parser) envList(n *yaml.Node, path string) ([]EnvVar, bool) {
	seen := map[string]int{}
	i := -1
	return list(p, n, path, func(e *yaml.Node, ip string) (EnvVar, bool) {
		i++
		name, value, ok := p.nameValue(e, ip, checkEnvName)
		if ok {
			if first, dup := seen[name]; dup {
				p.warnf(p.resolve(e), ip+".name", "duplicate env name %q (also %s); the last one wins", name, index(path, first))
			} else {
				seen[name] = i
			}
		}
		return EnvVar{Name: name, Value: value}, ok
	})
}

func (p *parser) sysctls(n *yaml.Node, path string) ([]Sysctl, bool) {
	return list(p, n, path, func(e *yaml.Node, ip string) (Sysctl, bool) {
		name, value, ok := p.nameValue(e, ip, CheckSysctlName)
		if ok {
			// sysctl(8) accepts the slash form too; the plan holds the dot form.
			name, _ = NormalizeSysctlName(name)
		}
		return Sysctl{Name: name, Value: value}, ok
	})
}

func (p *parser) scripts(n *yaml.Node, path string) ([]string, bool) {
	return list(p, n, path, func(e *yaml.Node, ip string) (string, bool) {
		s, ok := p.text(e, ip)
		if !ok {
			return "", false
		}
		if strings.TrimSpace(s) == "" {
			p.errorf(e, ip, "script is empty")
			return "", false
		}
		if !strings.HasPrefix(s, "#!") {
			p.errorf(e, ip, "script must start with an interpreter line such as \"#!/bin/sh\"")
			return "", false
		}
		return s, true
	})
}

// modules: each entry is a module name, optionally followed by whitespace-separated parameters
// ("nf_conntrack hashsize=1024").
func (p *parser) modules(n *yaml.Node, path string) ([]Module, bool) {
	return list(p, n, path, func(e *yaml.Node, ip string) (Module, bool) {
		s, ok := p.str(e, ip)
		if !ok {
			return Module{}, false
		}
		f := strings.Fields(s)
		if len(f) == 0 {
			p.errorf(e, ip, "module name must not be empty")
			return Module{}, false
		}
		if err := checkModuleName(f[0]); err != nil {
			p.errorf(e, ip, "%v", err)
			return Module{}, false
		}
		m := Module{Name: f[0]}
		if len(f) > 1 {
			m.Params = f[1:]
		}
		return m, true
	})
}

func (p *parser) security(n *yaml.Node, path string) (Security, bool) {
	o, ok := p.object(n, path, 1, keysOf(schemaSecurity)...)
	if !ok {
		return Security{}, false
	}
	s := Security{
		ReadonlyRootFS: get(p, o, "readonly-root-fs", p.boolean),
		RunAsUserID:    get(p, o, "run-as-user-id", p.id),
		RunAsGroupID:   get(p, o, "run-as-group-id", p.id),
	}
	if e, present := o.fields["sshd"]; present && !isNull(p.resolve(e.val)) {
		if so, ok := p.object(e.val, join(path, "sshd"), 2, keysOf(schemaSSHD)...); ok {
			s.SSHDEnable = get(p, so, "enable", p.boolean)
		}
	}
	return s, true
}

func (p *parser) envFromList(n *yaml.Node, path string) ([]EnvFrom, bool) {
	return flatList(p, n, path, p.envFromItem)
}

// envFromItem flattens one env-from list item; several sources in one item are taken in
// easyto's order: imds, s3, ssm, secrets-manager.
func (p *parser) envFromItem(n *yaml.Node, path string) ([]EnvFrom, bool) {
	o, ok := p.object(n, path, 1, keysOf(schemaEnvFromItem)...)
	if !ok {
		return nil, false
	}
	var out []EnvFrom
	for _, kind := range []string{KindIMDS, KindS3, KindSSM, KindSecretsManager} {
		e, present := o.fields[kind]
		if !present || isNull(p.resolve(e.val)) {
			continue
		}
		kp := join(path, kind)
		var so *object
		switch kind {
		case KindIMDS:
			so, ok = p.object(e.val, kp, 2, keysOf(schemaEnvFromIMDS)...)
		default:
			so, ok = p.object(e.val, kp, 2, keysOf(schemaEnvFromAWS)...)
		}
		if !ok {
			continue
		}
		ef := EnvFrom{Kind: kind}
		before := len(p.diags.Errors())
		switch kind {
		case KindIMDS:
			ef.Name, _ = required(p, so, "name", p.str)
			var pn *yaml.Node
			ef.Path, pn = required(p, so, "path", p.str)
			// easyto appends the path verbatim; its README says a leading slash is not needed,
			// so leading slashes are stripped here (the plan's path is relative to meta-data/).
			ef.Path = strings.TrimLeft(ef.Path, "/")
			if pn != nil && ef.Path == "" && !isNull(p.resolve(pn)) {
				p.errorf(pn, join(kp, "path"), "must name a metadata path such as \"local-ipv4\"")
			}
		case KindS3:
			ef.Bucket, _ = required(p, so, "bucket", p.nonEmpty)
			ef.Key, _ = required(p, so, "key", p.nonEmpty)
		case KindSSM:
			ef.Path, _ = required(p, so, "path", p.nonEmpty)
		case KindSecretsManager:
			ef.SecretID, _ = required(p, so, "secret-id", p.nonEmpty)
		}
		if kind != KindIMDS {
			if nm := get(p, so, "name", p.str); nm.Has() {
				ef.Name = nm.V
			}
			ef.Base64 = get(p, so, "base64-encode", p.boolean).V
			if ef.Base64 && strings.TrimSpace(ef.Name) == "" {
				// easyto's README: base64-encode is for a value fetched with name.
				p.warnf(so.fields["base64-encode"].key, join(kp, "base64-encode"), "applies only to a value fetched with name; ignored (each JSON member is used as it is)")
				ef.Base64 = false
			}
		}
		if ef.Name != "" {
			if err := checkEnvName(ef.Name); err != nil {
				p.errorf(so.fields["name"].val, join(kp, "name"), "%v", err)
			}
		} else if kind == KindIMDS {
			if nn, ok := so.fields["name"]; ok && !isNull(p.resolve(nn.val)) {
				p.errorf(nn.val, join(kp, "name"), "must not be empty")
			}
		}
		ef.Optional = get(p, so, "optional", p.boolean).V
		if len(p.diags.Errors()) == before {
			out = append(out, ef)
		} else {
			ok = false
		}
	}
	if len(out) == 0 && ok && len(o.fields) == 0 {
		p.warnf(o.n, path, "empty env-from item (want one of imds, s3, ssm, secrets-manager)")
	}
	return out, ok
}

func (p *parser) nonEmpty(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if ok && s == "" {
		p.errorf(n, path, "must not be empty")
		return "", false
	}
	return s, ok
}

func (p *parser) volumes(n *yaml.Node, path string) ([]UserVolume, bool) {
	vols, ok := flatList(p, n, path, p.volumeItem)
	p.checkVolumeConflicts(vols)
	return vols, ok
}

// volumeItem flattens one volumes list item; several kinds in one item are taken in easyto's
// order: s3, ssm, secrets-manager, ebs, template.
func (p *parser) volumeItem(n *yaml.Node, path string) ([]UserVolume, bool) {
	o, ok := p.object(n, path, 1, keysOf(schemaVolumeItem)...)
	if !ok {
		return nil, false
	}
	var out []UserVolume
	allOK := true
	for _, kind := range []string{KindS3, KindSSM, KindSecretsManager, KindEBS, KindTemplate} {
		e, present := o.fields[kind]
		if !present || isNull(p.resolve(e.val)) {
			continue
		}
		before := len(p.diags.Errors())
		v := p.volume(kind, e.val, join(path, kind))
		if len(p.diags.Errors()) != before {
			allOK = false
		} else if !v.skip {
			out = append(out, v)
		}
	}
	if len(o.fields) == 0 {
		p.warnf(o.n, path, "empty volume item (want one of ebs, s3, ssm, secrets-manager, template)")
	}
	return out, allOK
}

func (p *parser) volume(kind string, n *yaml.Node, path string) UserVolume {
	v := UserVolume{Volume: Volume{Kind: kind}, at: volumeAt{path: path}}
	o, ok := p.object(n, path, 2, keysOf(volumeSchemas[kind])...)
	if !ok {
		return v
	}
	if kind != KindEBS {
		v.Optional = get(p, o, "optional", p.boolean).V
	}
	varsFrom, varsTo := -1, -1 // optional template: its variables' diagnostics

	switch kind {
	case KindEBS:
		v.Device, v.at.dev = required(p, o, "device", p.absPath)
		if e, present := o.fields["attachment"]; present && !isNull(p.resolve(e.val)) {
			v.Attachment = p.attachment(e.val, join(path, "attachment"))
		}
		if e, present := o.fields["mount"]; present && !isNull(p.resolve(e.val)) {
			p.mount(&v, e.val, join(path, "mount"))
		}
		return v
	case KindS3:
		v.Bucket, _ = required(p, o, "bucket", p.nonEmpty)
		// easyto's README: key-prefix is optional, default "" (the whole bucket); its code
		// required it. Absent or null means "".
		v.KeyPrefix = get(p, o, "key-prefix", p.str).V
	case KindSSM:
		v.Path, _ = required(p, o, "path", p.nonEmpty)
	case KindSecretsManager:
		v.SecretID, _ = required(p, o, "secret-id", p.nonEmpty)
	case KindTemplate:
		// content: null is accepted as "" (an empty file), as easyto does.
		if e, present := o.fields["content"]; !present {
			p.errorf(o.n, join(path, "content"), "field is required")
		} else {
			if !isNull(p.resolve(e.val)) {
				v.Content, _ = p.text(e.val, join(path, "content"))
			}
		}
		if e, present := o.fields["variables"]; present {
			before := len(p.diags)
			v.Variables = p.variables(e.val, join(path, "variables"))
			if v.Optional {
				varsFrom, varsTo = before, len(p.diags)
			}
		}
	}
	if e, present := o.fields["mount"]; !present {
		p.errorf(o.n, join(path, "mount"), "field is required")
	} else if isNull(p.resolve(e.val)) {
		p.errorf(e.val, join(path, "mount"), "field is required (got null)")
	} else {
		p.mount(&v, e.val, join(path, "mount"))
	}
	if varsFrom >= 0 {
		p.skipOptionalTemplate(&v, varsFrom, varsTo)
	}
	return v
}

// DefaultMode returns the default mode of a volume kind: the mounted root of an EBS volume
// 0755; S3 and template files 0644; SSM and Secrets Manager files 0600.
func DefaultMode(kind string) Mode {
	switch kind {
	case KindEBS:
		return 0o755
	case KindS3, KindTemplate:
		return 0o644
	}
	return 0o600
}

func (p *parser) mount(v *UserVolume, n *yaml.Node, path string) {
	o, ok := p.object(n, path, 3, keysOf(schemaMount)...)
	if !ok {
		return
	}
	v.Destination, v.at.dest = required(p, o, "destination", p.absPath)
	if v.Kind == KindEBS && v.Destination == "/" {
		p.errorf(o.fields["destination"].val, join(path, "destination"), "an EBS volume cannot be mounted over /")
	}
	v.UserID = get(p, o, "user-id", p.id)
	v.GroupID = get(p, o, "group-id", p.id)
	v.Mode = DefaultMode(v.Kind)
	if m := get(p, o, "mode", p.mode); m.Has() {
		v.Mode, v.ModeSet = m.V, true
		p.secretMode(v, o.fields["mode"].val, join(path, "mode"))
	}
	if v.Kind == KindEBS {
		fs, fn := required(p, o, "fs-type", p.str)
		if fn != nil && !isNull(p.resolve(fn)) && !contains(FSTypes, fs) {
			p.errorf(fn, join(path, "fs-type"), "unsupported filesystem %q (want %s)", fs, strings.Join(FSTypes, ", "))
		}
		v.FSType = fs
		if opts := get(p, o, "options", p.strList); opts.Has() {
			// Each entry may hold several comma-separated options (fstab style); the plan
			// holds one option per entry.
			var all []string
			for i, s := range opts.V {
				en := p.resolve(o.fields["options"].val).Content[i]
				if r := p.resolve(en); r.Kind != yaml.ScalarNode || isNull(r) {
					continue // already reported by strList
				}
				split, err := splitMountOptions(s)
				if err != nil {
					p.errorf(en, index(join(path, "options"), i), "%v", err)
				}
				all = append(all, split...)
			}
			if len(all) > 0 {
				v.MountOptions = all
			}
		}
		return
	}
	for _, k := range []string{"fs-type", "options"} {
		if e, present := o.fields[k]; present {
			p.warnf(e.key, join(path, k), "only used by ebs volumes; ignored")
		}
	}
}

func (p *parser) attachment(n *yaml.Node, path string) *Attachment {
	r := p.resolve(n)
	// easyto's README documents attachment as a list; its code takes one object. A list of
	// exactly one object is accepted as that object.
	if r.Kind == yaml.SequenceNode {
		if len(r.Content) != 1 {
			p.errorf(r, path, "must be one mapping with tags and timeout, got a list of %d", len(r.Content))
			return nil
		}
		n, path = r.Content[0], path+"[0]"
	}
	o, ok := p.object(n, path, 3, keysOf(schemaAttachment)...)
	if !ok {
		return nil
	}
	a := &Attachment{TimeoutSeconds: 300}
	if t := get(p, o, "timeout", p.seconds); t.Has() {
		if t.V == 0 {
			p.errorf(o.fields["timeout"].val, join(path, "timeout"), "must be at least 1 second")
		}
		a.TimeoutSeconds = int(t.V)
	}
	// tags: documented required by easyto's README; its code defaults to [] (any available
	// volume in the zone). Absent, null or [] are refused: an attachment takes any volume
	// that matches, and its root is handed to the volume's owner.
	if e, present := o.fields["tags"]; !present || isNull(p.resolve(e.val)) {
		at := o.n
		if present {
			at = p.resolve(e.val)
		}
		p.errorf(at, join(path, "tags"), "%s", errNoTags)
	} else {
		tags, _ := list(p, e.val, join(path, "tags"), func(tn *yaml.Node, tp string) (Tag, bool) {
			to, ok := p.object(tn, tp, 4, keysOf(schemaTag)...)
			if !ok {
				return Tag{}, false
			}
			k, _ := required(p, to, "key", p.nonEmpty)
			t := Tag{Key: k}
			if val := get(p, to, "value", p.str); val.Has() {
				t.Value, t.HasValue = val.V, true
			}
			return t, true
		})
		if len(tags) > 0 {
			a.Tags = tags
		} else if r := p.resolve(e.val); r.Kind == yaml.SequenceNode && len(r.Content) == 0 {
			p.errorf(r, join(path, "tags"), "%s", errNoTags)
		}
	}
	return a
}

// variables converts a template's variables to JSON, keeping mapping order. Null or an empty
// mapping gives "" (content is written literally).
func (p *parser) variables(n *yaml.Node, path string) string {
	r := p.resolve(n)
	if isNull(r) {
		return ""
	}
	if r.Kind != yaml.MappingNode {
		p.errorf(r, path, "must be a mapping of names to values, got %s", describe(r))
		return ""
	}
	var b strings.Builder
	if !p.toJSON(&b, n, path, 0) {
		return ""
	}
	if b.String() == "{}" {
		return ""
	}
	return b.String()
}

func (p *parser) toJSON(b *strings.Builder, n *yaml.Node, path string, depth int) bool {
	n = p.resolve(n)
	if p.over(n, depth) {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode:
		// Same key handling as everywhere (merge keys, last duplicate wins) but any key is known.
		type member struct {
			name string
			val  *yaml.Node
		}
		var members []member
		pos := map[string]int{}
		var walk func(m *yaml.Node, d int) bool
		walk = func(m *yaml.Node, d int) bool {
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := p.resolve(m.Content[i]), m.Content[i+1]
				if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
					vr := p.resolve(v)
					srcs := []*yaml.Node{vr}
					if vr.Kind == yaml.SequenceNode {
						srcs = vr.Content
					}
					for _, s := range srcs {
						s = p.resolve(s)
						if p.over(s, depth+d) {
							return false
						}
						if s.Kind != yaml.MappingNode {
							p.errorf(s, path, "merge key << must refer to a mapping")
							return false
						}
						if !walk(s, d+1) {
							return false
						}
					}
					continue
				}
				if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
					p.nonStringKey(k, path)
					return false
				}
				if i, ok := pos[k.Value]; ok {
					members[i].val = v
					continue
				}
				pos[k.Value] = len(members)
				members = append(members, member{k.Value, v})
			}
			return true
		}
		if !walk(n, 0) {
			return false
		}
		b.WriteByte('{')
		for i, m := range members {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, m.name)
			b.WriteByte(':')
			if !p.toJSON(b, m.val, join(path, m.name), depth+1) {
				return false
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if !p.toJSON(b, e, index(path, i), depth+1) {
				return false
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			v, _ := p.boolean(n, path)
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			var x any
			if err := n.Decode(&x); err == nil {
				switch x.(type) {
				case int, int64, uint64:
					fmt.Fprintf(b, "%d", x)
					return true
				}
			}
			writeJSONString(b, n.Value)
		case "!!float":
			var f float64
			if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
				return true
			}
			writeJSONString(b, n.Value)
		default:
			s, ok := p.str(n, path)
			if !ok {
				return false
			}
			writeJSONString(b, s)
		}
	default:
		p.errorf(n, path, "unsupported YAML value")
		return false
	}
	return true
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
