package plan

import (
	"regexp"
	"strconv"
	"strings"
)

// The YAML library reports a syntax error as "yaml: line N: message" with N taken from
// libyaml's context mark (0-based for parser errors, so often one line early, and the start of
// the enclosing construct rather than the mistake) and never a column. locateYAMLError finds
// the position a person needs with a light scanner of its own: the opening bracket or quote
// that is never closed, the token where a flow collection lacks a comma, the ':' or '-' that
// is not allowed, the line whose indentation matches no open block, the bad escape or
// character. When the scanner finds nothing that fits the message it falls back to the
// library's line (corrected for its 0-based parser marks) and that line's first character.

// yamlPos is a 1-based line and column (in characters, as the library counts them).
type yamlPos struct{ line, col int }

func (p yamlPos) valid() bool { return p.line > 0 }

func (p yamlPos) before(q yamlPos) bool {
	return !q.valid() || (p.valid() && (p.line < q.line || (p.line == q.line && p.col < q.col)))
}

// yamlFinding is the first place of one kind of mistake the scanner saw.
type yamlFinding struct {
	pos      yamlPos
	flow     yamlPos // for flow problems: the opening bracket of the collection it is in
	ch       rune    // and its character
	mismatch bool    // the problem is a closing bracket of the wrong kind
}

type yamlScan struct {
	src  []rune
	i    int
	line int
	col  int

	flows []yamlFlow // open flow collections, innermost last

	unclosedQuote yamlPos
	quoteChar     rune
	missingComma  yamlFinding // an entry follows another without ',' (or a bracket closes the wrong kind)
	badEscape     yamlPos
	badChars      []yamlPos // characters that cannot start a token (tabs where indentation is read included)
	tabs          []yamlPos // tabs in the indentation of a line
	mapValues     []yamlPos // ':' where a mapping value is not allowed
	seqEntry      yamlPos   // '-' where a sequence entry is not allowed
	badIndent     yamlPos   // a line whose indentation matches no open block
	indentHint    string    // what is wrong with it
	junk          yamlPos   // something after a complete value on the same line
	noColon       yamlPos   // a line in a block mapping that is not "key: value"
	noKey         yamlPos   // a line that starts with ':' (no key before the value)
}

type yamlFlow struct {
	open       yamlPos
	ch         rune // '[' or '{'
	afterEntry bool // an entry was read and no ',' has followed yet
	plainEnd   int  // line where the last entry, a plain scalar, ended (0: not a plain scalar)
}

// block-context state of the previous content line
type yamlIndent struct {
	col int  // 0-based column of the collection's entries
	seq bool // a sequence ("- ") rather than a mapping
}

func scanYAML(src []byte) *yamlScan {
	s := &yamlScan{src: []rune(string(src)), line: 1, col: 1}
	s.run()
	return s
}

func (s *yamlScan) eof() bool { return s.i >= len(s.src) }

func (s *yamlScan) peek(k int) rune {
	if s.i+k < len(s.src) && s.i+k >= 0 {
		return s.src[s.i+k]
	}
	return 0
}

func (s *yamlScan) pos() yamlPos { return yamlPos{s.line, s.col} }

func (s *yamlScan) next() {
	if s.eof() {
		return
	}
	if s.src[s.i] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.i++
}

func isBlankOrEnd(r rune) bool { return r == 0 || r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func isFlowIndicator(r rune) bool { return r == ',' || r == '[' || r == ']' || r == '{' || r == '}' }

func setFirst(p *yamlPos, at yamlPos) {
	if !p.valid() {
		*p = at
	}
}

func (s *yamlScan) skipToEOL() {
	for !s.eof() && s.peek(0) != '\n' {
		s.next()
	}
}

// run scans the whole document line by line in block context; flow collections and quoted
// scalars may span lines.
func (s *yamlScan) run() {
	var stack []yamlIndent
	// What the previous content line left open: a value to come on deeper lines (after
	// "key:" or "- "), a plain scalar that deeper lines may continue, or nothing.
	openCol, plainCol := -2, -2
	for !s.eof() {
		if len(s.flows) > 0 {
			s.flowToken()
			continue
		}
		// Line start in block context.
		start := s.i
		for s.peek(0) == ' ' {
			s.next()
		}
		if s.peek(0) == '\t' {
			// A tab where indentation is expected: libyaml refuses it (as a character that
			// cannot start a token, or, after a plain scalar, as a tab that violates
			// indentation), blank lines included.
			t := s.pos()
			for s.peek(0) == ' ' || s.peek(0) == '\t' {
				s.next()
			}
			s.tabs = append(s.tabs, t)
			if !isBlankOrEnd(s.peek(0)) && s.peek(0) != '#' {
				s.badChars = append(s.badChars, t)
			}
		}
		c := s.i - start
		r := s.peek(0)
		if r == '\n' || r == '\r' || r == '#' || r == 0 {
			s.skipToEOL()
			s.next()
			continue
		}
		if c == 0 && (s.hasPrefix("---") || s.hasPrefix("...")) && isBlankOrEnd(s.peek(3)) {
			stack, openCol, plainCol = nil, -2, -2
			s.i += 3
			s.col += 3
			s.lineTokens(&stack, &openCol, &plainCol, c, true)
			continue
		}
		if c == 0 && r == '%' {
			s.skipToEOL()
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].col > c {
			stack = stack[:len(stack)-1]
		}
		top := -1
		topSeq := false
		if len(stack) > 0 {
			top, topSeq = stack[len(stack)-1].col, stack[len(stack)-1].seq
		}
		dash := r == '-' && isBlankOrEnd(s.peek(1))
		switch {
		case c == top:
			// A sibling entry. "- " at a mapping's indentation is an indentless sequence,
			// allowed right after "key:" ("key:\n- a"); a key at a sequence's indentation
			// ends an indentless sequence and is wrong anywhere else.
			switch {
			case dash && !topSeq && openCol == c:
				stack = append(stack, yamlIndent{col: c, seq: true})
			case dash && !topSeq:
				s.indent(s.pos(), "a list entry where a key is expected")
			case !dash && topSeq && len(stack) > 1 && stack[len(stack)-2].col == c:
				stack = stack[:len(stack)-1]
			case !dash && topSeq:
				s.indent(s.pos(), "a key at the indentation of a list: indent it under its \"- \" entry")
			}
		case c > top && openCol >= -1 && (c > openCol || (dash && c == openCol)):
			stack = append(stack, yamlIndent{col: c, seq: dash})
		case c > top && plainCol >= -1 && c > plainCol:
			// A continuation line of a multi-line plain scalar: text, but no new key.
			s.continuation()
			continue
		case c > top && len(stack) == 0:
			stack = append(stack, yamlIndent{col: c, seq: dash})
		default:
			s.indent(s.pos(), "the indentation of this line matches no open block")
			stack = append(stack, yamlIndent{col: c, seq: dash})
		}
		s.lineTokens(&stack, &openCol, &plainCol, c, false)
	}
}

func (s *yamlScan) indent(p yamlPos, hint string) {
	if !s.badIndent.valid() {
		s.badIndent, s.indentHint = p, hint
	}
}

func (s *yamlScan) hasPrefix(p string) bool {
	for k, r := range p {
		if s.peek(k) != r {
			return false
		}
	}
	return true
}

// continuation scans a plain-scalar continuation line: ": " on it is a mapping value where
// none is allowed.
func (s *yamlScan) continuation() {
	for !s.eof() && s.peek(0) != '\n' {
		if s.peek(0) == ':' && isBlankOrEnd(s.peek(1)) {
			s.mapValues = append(s.mapValues, s.pos())
		}
		if s.peek(0) == '#' && (s.peek(-1) == ' ' || s.peek(-1) == '\t') {
			s.skipToEOL()
			break
		}
		s.next()
	}
	s.next()
}

// lineTokens scans the tokens of one block-context line that starts at column c (0-based),
// updating the indentation stack and what the line leaves open.
func (s *yamlScan) lineTokens(stack *[]yamlIndent, openCol, plainCol *int, c int, docStart bool) {
	*openCol, *plainCol = -2, -2
	value := false // a ':' value indicator was seen on this line
	lastKey := c   // column of the innermost entry (key or "- ") on the line
	content := false
	for {
		for s.peek(0) == ' ' || s.peek(0) == '\t' {
			s.next()
		}
		r := s.peek(0)
		col := s.col - 1
		switch {
		case r == 0 || r == '\n' || r == '\r':
			if !content && !docStart {
				*openCol = lastKey
			}
			s.skipToEOL()
			s.next()
			return
		case r == '#':
			if !content && !docStart {
				*openCol = lastKey
			}
			s.skipToEOL()
			s.next()
			return
		case r == '-' && isBlankOrEnd(s.peek(1)) && !content:
			if value {
				setFirst(&s.seqEntry, s.pos())
			}
			if col != c {
				*stack = append(*stack, yamlIndent{col: col, seq: true})
			}
			lastKey = col
			s.next()
		case r == '?' && isBlankOrEnd(s.peek(1)) && !content:
			lastKey = col
			s.next()
		case r == ':' && isBlankOrEnd(s.peek(1)):
			// A value indicator after a complex key ("? a" then ": b", rare in user data)
			// or with no key at all.
			if col == c && !content && !value {
				setFirst(&s.noKey, s.pos())
			}
			value = true
			s.next()
		case r == '&' || r == '!':
			for !isBlankOrEnd(s.peek(0)) {
				s.next()
			}
		case r == '|' || r == '>':
			s.skipToEOL()
			s.next()
			s.blockScalar(lastKey)
			return
		case content:
			// Something after a complete value on the same line; libyaml reports a "- "
			// there as a sequence entry where none is allowed.
			if r == '-' && isBlankOrEnd(s.peek(1)) {
				setFirst(&s.seqEntry, s.pos())
			}
			setFirst(&s.junk, s.pos())
			s.skipToEOL()
			s.next()
			return
		case r == '[' || r == '{':
			s.flows = append(s.flows, yamlFlow{open: s.pos(), ch: r})
			s.next()
			for len(s.flows) > 0 && !s.eof() {
				s.flowToken()
			}
			content = true
			if s.afterValueKey(value) {
				value, content = true, false
			}
		case r == '"' || r == '\'':
			if !s.quoted() {
				return
			}
			content = true
			if s.afterValueKey(value) {
				value, content = true, false
				lastKey = col
				if col != c {
					*stack = append(*stack, yamlIndent{col: col})
				}
			}
		case r == '@' || r == '`':
			s.badChars = append(s.badChars, s.pos())
			s.skipToEOL()
			s.next()
			return
		case r == ']' || r == '}' || r == ',':
			// A flow indicator outside a flow collection: libyaml takes it as a token, and a
			// key may not follow it on the line.
			setFirst(&s.junk, s.pos())
			value = true
			s.next()
		default:
			// A plain scalar up to ": ", " #" or the end of the line; a key if ': ' ends it.
			for !s.eof() && s.peek(0) != '\n' && s.peek(0) != '\r' {
				if s.peek(0) == ':' && isBlankOrEnd(s.peek(1)) {
					break
				}
				if s.peek(0) == '#' && (s.peek(-1) == ' ' || s.peek(-1) == '\t') {
					break
				}
				s.next()
			}
			if s.peek(0) == ':' {
				if value {
					s.mapValues = append(s.mapValues, s.pos())
					s.skipToEOL()
					s.next()
					return
				}
				value = true
				lastKey = col
				if col != c {
					*stack = append(*stack, yamlIndent{col: col})
				}
				s.next()
				continue
			}
			*plainCol = lastKey
			if col == c && len(*stack) > 0 && !(*stack)[len(*stack)-1].seq && (*stack)[len(*stack)-1].col == c {
				// The first thing on a line of a block mapping is not a key.
				setFirst(&s.noColon, yamlPos{s.line, col + 1})
			}
			content = true
		}
	}
}

// afterValueKey reports whether a quoted scalar or flow collection just read is a key (": "
// follows); it consumes the ':'. A key after a value on the same line is not allowed.
func (s *yamlScan) afterValueKey(value bool) bool {
	for s.peek(0) == ' ' || s.peek(0) == '\t' {
		s.next()
	}
	if s.peek(0) != ':' || !isBlankOrEnd(s.peek(1)) {
		return false
	}
	if value {
		s.mapValues = append(s.mapValues, s.pos())
		s.skipToEOL()
		return false
	}
	s.next()
	return true
}

// blockScalar skips the content lines of a literal or folded scalar: blank lines and lines
// indented deeper than the entry that holds it.
func (s *yamlScan) blockScalar(parent int) {
	for !s.eof() {
		k := 0
		for s.peek(k) == ' ' {
			k++
		}
		if r := s.peek(k); r != '\n' && r != '\r' && r != 0 && k <= parent {
			return
		}
		if s.peek(k) == 0 {
			for k > 0 {
				s.next()
				k--
			}
			return
		}
		s.skipToEOL()
		s.next()
	}
}

// quoted scans a quoted scalar from its opening quote; false if it is never closed.
func (s *yamlScan) quoted() bool {
	q := s.peek(0)
	open := s.pos()
	s.next()
	for !s.eof() {
		r := s.peek(0)
		switch {
		case q == '\'' && r == '\'' && s.peek(1) == '\'':
			s.next()
		case r == q:
			s.next()
			return true
		case q == '"' && r == '\\':
			s.escape()
			continue
		case s.col == 1 && (s.hasPrefix("---") || s.hasPrefix("...")) && isBlankOrEnd(s.peek(3)):
			// A document marker ends the stream inside the quote.
			setFirst(&s.unclosedQuote, open)
			s.quoteChar = q
			s.i = len(s.src)
			return false
		}
		s.next()
	}
	setFirst(&s.unclosedQuote, open)
	s.quoteChar = q
	return false
}

// escape checks one escape sequence of a double-quoted scalar (YAML 1.2 §5.7).
func (s *yamlScan) escape() {
	at := s.pos()
	s.next()
	r := s.peek(0)
	hex := 0
	switch r {
	case '0', 'a', 'b', 't', '\t', 'n', 'v', 'f', 'r', 'e', ' ', '"', '/', '\\', 'N', '_', 'L', 'P', '\n', '\r':
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	default:
		setFirst(&s.badEscape, at)
	}
	s.next()
	for k := 0; k < hex; k++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", s.peek(0)) || s.eof() {
			setFirst(&s.badEscape, at)
			return
		}
		s.next()
	}
}

// flowToken scans one token inside a flow collection.
func (s *yamlScan) flowToken() {
	for {
		r := s.peek(0)
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			s.next()
			continue
		}
		if r == '#' {
			s.skipToEOL()
			continue
		}
		break
	}
	if s.eof() {
		return
	}
	f := &s.flows[len(s.flows)-1]
	r := s.peek(0)
	at := s.pos()
	entry := func() {
		if f.afterEntry {
			s.missing(at, f, false)
		}
	}
	switch {
	case r == ']' || r == '}':
		if (r == ']') != (f.ch == '[') {
			s.missing(at, f, true)
			s.next()
			return
		}
		s.flows = s.flows[:len(s.flows)-1]
		s.next()
		if len(s.flows) > 0 {
			g := &s.flows[len(s.flows)-1]
			g.afterEntry, g.plainEnd = true, 0
		}
	case r == ',':
		f.afterEntry, f.plainEnd = false, 0
		s.next()
	case r == '[' || r == '{':
		entry()
		s.flows = append(s.flows, yamlFlow{open: at, ch: r})
		s.next()
	case r == '"' || r == '\'':
		entry()
		if !s.quoted() {
			return
		}
		f.afterEntry, f.plainEnd = true, 0
	case r == ':' && (isBlankOrEnd(s.peek(1)) || isFlowIndicator(s.peek(1)) || f.afterEntry):
		f.afterEntry, f.plainEnd = false, 0
		s.next()
	case (r == '?' || r == '-') && isBlankOrEnd(s.peek(1)):
		if r == '-' {
			entry()
		}
		s.next()
	case r == '&' || r == '!':
		for !isBlankOrEnd(s.peek(0)) && !isFlowIndicator(s.peek(0)) {
			s.next()
		}
	case r == '@' || r == '`':
		s.badChars = append(s.badChars, at)
		s.next()
	default:
		// A plain scalar; one that goes on on a later line is the same scalar (multi-line).
		if f.afterEntry && !(f.plainEnd > 0 && f.plainEnd < at.line) {
			s.missing(at, f, false)
		}
		for !s.eof() {
			c := s.peek(0)
			if c == '\n' || c == '\r' || isFlowIndicator(c) || (c == ':' && (isBlankOrEnd(s.peek(1)) || isFlowIndicator(s.peek(1)))) {
				break
			}
			if c == '#' && (s.peek(-1) == ' ' || s.peek(-1) == '\t') {
				break
			}
			s.next()
		}
		f.afterEntry, f.plainEnd = true, s.line
	}
}

func (s *yamlScan) missing(at yamlPos, f *yamlFlow, mismatch bool) {
	if !s.missingComma.pos.valid() {
		s.missingComma = yamlFinding{pos: at, flow: f.open, ch: f.ch, mismatch: mismatch}
	}
}

// unclosed reports whether the flow collection opened at p is still open at the end.
func (s *yamlScan) unclosed(p yamlPos) bool {
	for _, f := range s.flows {
		if f.open == p {
			return true
		}
	}
	return false
}

// onLine returns the first position on line.
func onLine(ps []yamlPos, line int) (yamlPos, bool) {
	for _, p := range ps {
		if p.line == line {
			return p, true
		}
	}
	return yamlPos{}, false
}

func firstPos(ps []yamlPos) yamlPos {
	if len(ps) == 0 {
		return yamlPos{}
	}
	return ps[0]
}

func lineRunes(lines []string, p yamlPos) []rune {
	if p.line < 1 || p.line > len(lines) {
		return nil
	}
	return []rune(lines[p.line-1])
}

var (
	yamlErrRe    = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)
	yamlAnchorRe = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlParserErrors are the messages of libyaml's parser (not its scanner): their reported
// line is a 0-based mark.
var yamlParserErrors = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"did not find expected node content", "did not find expected key",
	"did not find expected '-' indicator", "did not find expected ',' or ']'",
	"did not find expected ',' or '}'", "found duplicate %YAML directive",
	"found incompatible YAML document", "found duplicate %TAG directive",
	"found undefined tag handle",
}

// locateYAMLError turns the library's error text into a message and a position in src.
func locateYAMLError(src []byte, errText string) (line, col int, msg string) {
	errText = oneLine(errText)
	m := yamlErrRe.FindStringSubmatch(errText)
	if m == nil {
		return 0, 0, "invalid YAML: " + errText
	}
	libLine, _ := strconv.Atoi(m[1])
	msg = m[2]
	s := scanYAML(src)
	lines := strings.Split(string(src), "\n")
	at := func(p yamlPos, text string) (int, int, string) { return p.line, p.col, "invalid YAML: " + text }

	switch {
	case strings.HasPrefix(msg, "found unexpected end of stream") || strings.HasPrefix(msg, "found unexpected document indicator"):
		if s.unclosedQuote.valid() {
			kind := "double"
			if s.quoteChar == '\'' {
				kind = "single"
			}
			return at(s.unclosedQuote, "this "+kind+" quote is never closed ("+msg+")")
		}
	case msg == "did not find expected ',' or ']'" || msg == "did not find expected ',' or '}'":
		f := s.missingComma
		switch {
		case f.mismatch:
			return at(f.pos, msg+" (this bracket closes the '"+string(f.ch)+"' opened at line "+strconv.Itoa(f.flow.line)+")")
		case f.pos.valid() && !s.unclosed(f.flow):
			return at(f.pos, msg+" (a ',' is missing before this)")
		case f.pos.valid():
			return at(f.flow, "this '"+string(f.ch)+"' is never closed ("+msg+")")
		case len(s.flows) > 0:
			g := s.flows[len(s.flows)-1]
			return at(g.open, "this '"+string(g.ch)+"' is never closed ("+msg+")")
		}
	case strings.HasPrefix(msg, "found unknown escape character") || strings.HasPrefix(msg, "found invalid Unicode character escape code") ||
		strings.HasPrefix(msg, "did not find expected hexdecimal number"):
		if s.badEscape.valid() {
			return at(s.badEscape, msg)
		}
	case strings.HasPrefix(msg, "found character that cannot start any token"):
		// The library's line is exact here (its marks start at 0, so none means line 1).
		if p, ok := onLine(append(s.badChars, s.tabs...), max(libLine, 1)); ok {
			hint := ""
			if r := lineRunes(lines, p); p.col-1 < len(r) && r[p.col-1] == '\t' {
				hint = " (a tab; indent with spaces)"
			}
			return at(p, msg+hint)
		}
	case strings.HasPrefix(msg, "found a tab character"):
		// The library names the line of the scalar before the tab.
		for _, p := range s.tabs {
			if p.line > libLine {
				return at(p, msg+" (indent with spaces)")
			}
		}
	case msg == "mapping values are not allowed in this context":
		if p, ok := onLine(s.mapValues, max(libLine, 1)); ok {
			return at(p, msg+" (quote a value that holds \": \")")
		}
	case msg == "block sequence entries are not allowed in this context":
		if s.seqEntry.valid() {
			return at(s.seqEntry, msg+" (start the list on the next line, indented)")
		}
	case msg == "did not find expected key" || msg == "did not find expected '-' indicator" ||
		msg == "did not find expected node content" || msg == "could not find expected ':'":
		first, hint := yamlPos{}, ""
		for _, c := range []struct {
			p    yamlPos
			hint string
		}{
			{s.noKey, " (a ':' with no key before it)"},
			{s.badIndent, " (" + s.indentHint + ")"},
			{s.junk, " (text after a complete value: quote the whole value)"},
			{s.noColon, " (this line is not \"key: value\")"},
			{firstPos(s.mapValues), ""},
			{s.seqEntry, ""},
		} {
			if c.p.before(first) {
				first, hint = c.p, c.hint
			}
		}
		if len(s.flows) > 0 && s.flows[0].open.before(first) {
			// An unclosed bracket before the first mistake found is the mistake.
			g := s.flows[0]
			return at(g.open, "this '"+string(g.ch)+"' is never closed ("+msg+")")
		}
		if first.valid() {
			return at(first, msg+hint)
		}
	case yamlAnchorRe.MatchString(msg):
		name := yamlAnchorRe.FindStringSubmatch(msg)[1]
		for i, l := range lines {
			if k := strings.Index(l, "*"+name); k >= 0 && (libLine == 0 || libLine == i+1) {
				return i + 1, len([]rune(l[:k])) + 1, "invalid YAML: " + msg
			}
		}
	}
	// Fallback: the library's line, corrected for its 0-based parser marks, and the first
	// character on it.
	line = libLine
	for _, pm := range yamlParserErrors {
		if msg == pm {
			line++
			break
		}
	}
	if line <= 0 {
		line = 1
	}
	if line > len(lines) {
		line = len(lines)
	}
	col = 1
	if line >= 1 && line <= len(lines) {
		l := lines[line-1]
		col = len([]rune(l)) - len([]rune(strings.TrimLeft(l, " \t"))) + 1
	}
	return line, col, "invalid YAML: " + msg
}
