// Package mustache is a small Mustache renderer for JSON-shaped data, used by template volumes.
// We do not use github.com/cbroglie/mustache: it calls reflect.Value.Method, so the linker keeps
// every exported method of every reachable type (all ~600 EC2 operations); the stripped
// bin/bootplan was 54.3 MB with it and 13.7 MB with this package, which uses no reflection.
//
// Data is what encoding/json decodes into an any (with or without UseNumber): map[string]any,
// []any, string, json.Number, float64, bool and nil. Supported: {{name}} (HTML-escaped as
// easyto does), {{{name}}} and {{& name}} (raw), dotted names, the implicit iterator {{.}},
// sections, inverted sections, comments, set delimiters and standalone-line removal, with
// name resolution along the context stack as in the Mustache spec. Missing names render as
// nothing. Partials ({{> name}}) and lambdas are not supported; a partial tag is a parse error.
//
// Choices where the spec leaves the behaviour to the implementation:
//   - Falsey values (a section is skipped, an inverted section rendered): a missing name,
//     null, false and an empty list. Everything else is truthy, including the empty string,
//     the number 0 and an empty object (easyto renders a section for an empty string).
//   - A list or object in a variable tag renders as compact JSON (object keys sorted), then
//     escaped like any other value for {{name}}.
//   - Numbers render as written in the JSON (json.Number); a float64 renders with
//     strconv.FormatFloat(f, 'g', -1, 64).
package mustache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

type nodeKind int

const (
	textNode nodeKind = iota
	varNode
	sectionNode
)

type node struct {
	kind     nodeKind
	text     string // textNode: literal text; varNode/sectionNode: the name
	escape   bool   // varNode
	inverted bool   // sectionNode
	children []*node
	line     int // sectionNode: where it was opened
	col      int
}

// Template is a parsed template, safe for concurrent use.
type Template struct {
	nodes []*node
}

// Render parses tmpl and renders it against data.
func Render(tmpl string, data any) (string, error) {
	t, err := Parse(tmpl)
	if err != nil {
		return "", err
	}
	return t.Render(data)
}

// Parse parses a template. Errors are one line and carry the line:col of the offending tag.
func Parse(src string) (*Template, error) {
	p := parser{src: src, otag: "{{", ctag: "}}"}
	nodes, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Template{nodes: nodes}, nil
}

type parser struct {
	src        string
	pos        int
	otag, ctag string
}

// lineCol is the 1-based line and column (in bytes) of offset off.
func (p *parser) lineCol(off int) (int, int) {
	line := 1 + strings.Count(p.src[:off], "\n")
	col := off - strings.LastIndexByte(p.src[:off], '\n')
	return line, col
}

func (p *parser) errorf(off int, format string, args ...any) error {
	line, col := p.lineCol(off)
	return fmt.Errorf("%s at line %d:%d", fmt.Sprintf(format, args...), line, col)
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return true
}

// standalone reports whether the tag src[start:end] is alone on its line (only spaces and
// tabs around it, and no other tag before it on the line), and if so returns the offset
// where its line starts and the offset just past its line end (past "\n" or "\r\n", or len).
func (p *parser) standalone(start, end int) (lineStart, next int, ok bool) {
	lineStart = strings.LastIndexByte(p.src[:start], '\n') + 1
	if lineStart < p.pos || !isBlank(p.src[lineStart:start]) {
		return 0, 0, false
	}
	rest := p.src[end:]
	nl := strings.IndexByte(rest, '\n')
	switch {
	case nl < 0:
		if !isBlank(rest) {
			return 0, 0, false
		}
		return lineStart, len(p.src), true
	case isBlank(rest[:nl]):
		return lineStart, end + nl + 1, true
	case nl > 0 && rest[nl-1] == '\r' && isBlank(rest[:nl-1]):
		return lineStart, end + nl + 1, true
	}
	return 0, 0, false
}

func (p *parser) parse() ([]*node, error) {
	type frame struct {
		sec   *node
		nodes []*node
	}
	var stack []frame
	var cur []*node
	addText := func(s string) {
		if s != "" {
			cur = append(cur, &node{kind: textNode, text: s})
		}
	}
	for {
		i := strings.Index(p.src[p.pos:], p.otag)
		if i < 0 {
			addText(p.src[p.pos:])
			break
		}
		start := p.pos + i
		inner := start + len(p.otag)
		var sigil byte
		if inner < len(p.src) {
			switch c := p.src[inner]; c {
			case '#', '^', '/', '!', '=', '>', '&', '{':
				sigil = c
				inner++
			}
		}
		closer := p.ctag
		switch sigil {
		case '{':
			closer = "}" + p.ctag
		case '=':
			closer = "=" + p.ctag
		}
		j := strings.Index(p.src[inner:], closer)
		if j < 0 {
			if sigil == '!' {
				return nil, p.errorf(start, "unclosed comment %q", p.otag+"!")
			}
			return nil, p.errorf(start, "unclosed tag %q", p.otag)
		}
		content := p.src[inner : inner+j]
		end := inner + j + len(closer)
		name := strings.TrimSpace(content)

		text := p.src[p.pos:start]
		next := end
		switch sigil {
		case '#', '^', '/', '!', '=', '>':
			if ls, nx, ok := p.standalone(start, end); ok {
				text = p.src[p.pos:ls]
				next = nx
			}
		}
		addText(text)

		switch sigil {
		case '!':
		case '=':
			f := strings.Fields(content)
			if len(f) != 2 || strings.Contains(f[0], "=") || strings.Contains(f[1], "=") {
				return nil, p.errorf(start, "invalid set-delimiters tag %q", p.src[start:end])
			}
			p.otag, p.ctag = f[0], f[1]
		case '>':
			return nil, p.errorf(start, "partials are not supported: %q", p.src[start:end])
		case '#', '^':
			if name == "" {
				return nil, p.errorf(start, "section tag %q has no name", p.src[start:end])
			}
			line, col := p.lineCol(start)
			sec := &node{kind: sectionNode, text: name, inverted: sigil == '^', line: line, col: col}
			stack = append(stack, frame{sec: sec, nodes: cur})
			cur = nil
		case '/':
			if len(stack) == 0 {
				return nil, p.errorf(start, "unexpected close tag %q", name)
			}
			top := stack[len(stack)-1]
			if top.sec.text != name {
				line, col := p.lineCol(start)
				return nil, fmt.Errorf("mismatched close tag %q at line %d:%d: section %q opened at line %d:%d",
					name, line, col, top.sec.text, top.sec.line, top.sec.col)
			}
			top.sec.children = cur
			stack = stack[:len(stack)-1]
			cur = append(top.nodes, top.sec)
		default: // variable, {{& }}, {{{ }}}
			if name == "" {
				return nil, p.errorf(start, "tag %q has no name", p.src[start:end])
			}
			cur = append(cur, &node{kind: varNode, text: name, escape: sigil == 0})
		}
		p.pos = next
	}
	if len(stack) > 0 {
		s := stack[len(stack)-1].sec
		return nil, fmt.Errorf("unclosed section %q opened at line %d:%d", s.text, s.line, s.col)
	}
	return cur, nil
}

// Render renders the template against data (see the package comment for the data shapes).
func (t *Template) Render(data any) (string, error) {
	var b strings.Builder
	if err := render(&b, t.nodes, []any{data}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func render(b *strings.Builder, nodes []*node, stack []any) error {
	for _, n := range nodes {
		switch n.kind {
		case textNode:
			b.WriteString(n.text)
		case varNode:
			v, ok := lookup(stack, n.text)
			if !ok {
				continue
			}
			s, err := format(v)
			if err != nil {
				return fmt.Errorf("variable %q: %w", n.text, err)
			}
			if n.escape {
				s = EscapeHTML(s)
			}
			b.WriteString(s)
		case sectionNode:
			v, ok := lookup(stack, n.text)
			falsey := !ok || isFalsey(v)
			if n.inverted {
				if falsey {
					if err := render(b, n.children, stack); err != nil {
						return err
					}
				}
				continue
			}
			if falsey {
				continue
			}
			if list, isList := v.([]any); isList {
				for _, item := range list {
					if err := render(b, n.children, append(stack[:len(stack):len(stack)], item)); err != nil {
						return err
					}
				}
				continue
			}
			if err := render(b, n.children, append(stack[:len(stack):len(stack)], v)); err != nil {
				return err
			}
		}
	}
	return nil
}

func isFalsey(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case []any:
		return len(t) == 0
	}
	return false
}

// lookup resolves name against the context stack: "." is the top; otherwise the first dotted
// part is looked up in each context from the top down, and the rest within what it found.
func lookup(stack []any, name string) (any, bool) {
	if name == "." {
		return stack[len(stack)-1], true
	}
	parts := strings.Split(name, ".")
	var v any
	found := false
	for i := len(stack) - 1; i >= 0; i-- {
		if m, ok := stack[i].(map[string]any); ok {
			if x, ok := m[parts[0]]; ok {
				v, found = x, true
				break
			}
		}
	}
	if !found {
		return nil, false
	}
	for _, part := range parts[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func format(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case json.Number:
		return string(t), nil
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case map[string]any, []any:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return "", fmt.Errorf("cannot render as JSON: %w", err)
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}

// EscapeHTML is easyto's {{name}} escaping: " ' & < > become entities and NUL becomes U+FFFD.
func EscapeHTML(s string) string {
	if !strings.ContainsAny(s, "\"'&<>\x00") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case 0:
			b.WriteString("\uFFFD")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
