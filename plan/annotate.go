package plan

import (
	"fmt"
	"strings"
)

// Annotate renders src (the user data as the parser saw it) with each diagnostic marked under
// its line, compiler-style, so a person sees the mistake in place:
//
//	2 | working-dir: rel
//	  |              ^ error: working-dir: must be an absolute path
//
// Diagnostics without a line (or past the end of src) are listed after the file. Only
// diagnostics of file are used; others are ignored.
func Annotate(file string, src []byte, diags Diagnostics) string {
	byLine := map[int][]Diagnostic{}
	var loose []Diagnostic
	lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
	if len(src) == 0 {
		lines = nil
	}
	for _, d := range diags {
		if d.File != file {
			continue
		}
		if d.Line >= 1 && d.Line <= len(lines) {
			byLine[d.Line] = append(byLine[d.Line], d)
		} else {
			loose = append(loose, d)
		}
	}
	width := len(fmt.Sprint(len(lines)))
	var b strings.Builder
	pad := strings.Repeat(" ", width)
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		fmt.Fprintf(&b, "%*d | %s\n", width, i+1, l)
		for _, d := range byLine[i+1] {
			// Columns count characters, as the YAML parser's do.
			rs := []rune(l)
			col := d.Col
			if col < 1 || col > len(rs)+1 {
				col = 1
			}
			// Tabs before the column stay tabs so the caret lines up in a terminal.
			var lead strings.Builder
			for _, r := range rs[:col-1] {
				if r == '\t' {
					lead.WriteByte('\t')
				} else {
					lead.WriteByte(' ')
				}
			}
			fmt.Fprintf(&b, "%s | %s^ %s\n", pad, lead.String(), annotation(d))
		}
	}
	for _, d := range loose {
		fmt.Fprintf(&b, "%s | %s\n", pad, annotation(d))
	}
	return b.String()
}

func annotation(d Diagnostic) string {
	s := d.Severity.String() + ": "
	if d.Path != "" {
		s += d.Path + ": "
	}
	return s + d.Message
}
