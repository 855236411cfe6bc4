package mustache

import (
	"encoding/json"
	"strings"
	"testing"
)

// data decodes a JSON literal the way stage2 does (numbers kept as written).
func data(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad test data %s: %v", s, err)
	}
	return v
}

type renderCase struct {
	name, tmpl, data, want string
}

func runCases(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.tmpl, data(t, tc.data))
			if err != nil {
				t.Fatalf("Render(%q): %v", tc.tmpl, err)
			}
			if got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.tmpl, got, tc.want)
			}
		})
	}
}

func TestInterpolation(t *testing.T) {
	runCases(t, []renderCase{
		{"no interpolation", "Hello from {Mustache}!\n", `{}`, "Hello from {Mustache}!\n"},
		{"basic", "Hello, {{subject}}!\n", `{"subject":"world"}`, "Hello, world!\n"},
		{"no re-interpolation", "{{template}}: {{planet}}", `{"template":"{{planet}}","planet":"Earth"}`, "{{planet}}: Earth"},
		{"escaped", "These characters should be HTML escaped: {{forbidden}}\n", `{"forbidden":"& \" < >"}`,
			"These characters should be HTML escaped: &amp; &quot; &lt; &gt;\n"},
		{"easyto escaping", "{{s}}", `{"s":"'\"&<>\u0000x"}`, "&#39;&quot;&amp;&lt;&gt;\uFFFDx"},
		{"triple mustache", "These characters should not be HTML escaped: {{{forbidden}}}\n", `{"forbidden":"& \" < >"}`,
			"These characters should not be HTML escaped: & \" < >\n"},
		{"ampersand", "These characters should not be HTML escaped: {{&forbidden}}\n", `{"forbidden":"& \" < >"}`,
			"These characters should not be HTML escaped: & \" < >\n"},
		{"basic integer", `"{{mph}} miles an hour!"`, `{"mph":85}`, `"85 miles an hour!"`},
		{"triple integer", `"{{{mph}}} miles an hour!"`, `{"mph":85}`, `"85 miles an hour!"`},
		{"ampersand integer", `"{{&mph}} miles an hour!"`, `{"mph":85}`, `"85 miles an hour!"`},
		{"basic decimal", `"{{power}} jiggawatts!"`, `{"power":1.210}`, `"1.210 jiggawatts!"`},
		{"big number as written", `{{n}}`, `{"n":12345678901234567890}`, `12345678901234567890`},
		{"bools", `{{t}} {{f}}`, `{"t":true,"f":false}`, `true false`},
		{"null", `I ({{cannot}}) be seen!`, `{"cannot":null}`, `I () be seen!`},
		{"triple null", `I ({{{cannot}}}) be seen!`, `{"cannot":null}`, `I () be seen!`},
		{"context miss", `I ({{cannot}}) be seen!`, `{}`, `I () be seen!`},
		{"triple context miss", `I ({{{cannot}}}) be seen!`, `{}`, `I () be seen!`},
		{"ampersand context miss", `I ({{&cannot}}) be seen!`, `{}`, `I () be seen!`},
		{"dotted", `"{{person.name}}" == "{{#person}}{{name}}{{/person}}"`, `{"person":{"name":"Joe"}}`, `"Joe" == "Joe"`},
		{"dotted triple", `"{{{person.name}}}" == "{{#person}}{{{name}}}{{/person}}"`, `{"person":{"name":"Joe"}}`, `"Joe" == "Joe"`},
		{"dotted ampersand", `"{{&person.name}}" == "{{#person}}{{&name}}{{/person}}"`, `{"person":{"name":"Joe"}}`, `"Joe" == "Joe"`},
		{"dotted arbitrary depth", `"{{a.b.c.d.e.name}}" == "Phil"`, `{"a":{"b":{"c":{"d":{"e":{"name":"Phil"}}}}}}`, `"Phil" == "Phil"`},
		{"dotted broken chain", `"{{a.b.c}}" == ""`, `{"a":{}}`, `"" == ""`},
		{"dotted broken chain resolution", `"{{a.b.c.name}}" == ""`, `{"a":{"b":{}},"c":{"name":"Jim"}}`, `"" == ""`},
		{"dotted initial resolution", `"{{#a}}{{b.c.d.e.name}}{{/a}}" == "Phil"`,
			`{"a":{"b":{"c":{"d":{"e":{"name":"Phil"}}}}},"b":{"c":{"d":{"e":{"name":"Wrong"}}}}}`, `"Phil" == "Phil"`},
		{"dotted context precedence", `{{#a}}{{b.c}}{{/a}}`, `{"a":{"b":{}},"b":{"c":"ERROR"}}`, ``},
		{"dotted through non-object", `{{a.b}}`, `{"a":"str"}`, ``},
		{"implicit iterator string", `Hello, {{.}}!`, `"world"`, `Hello, world!`},
		{"implicit iterator escaped", `{{.}}|{{{.}}}|{{&.}}`, `"<b>"`, `&lt;b&gt;|<b>|<b>`},
		{"implicit iterator integer", `"{{.}} miles an hour!"`, `85`, `"85 miles an hour!"`},
		{"surrounding whitespace", "| {{string}} |", `{"string":"---"}`, "| --- |"},
		{"triple surrounding whitespace", "| {{{string}}} |", `{"string":"---"}`, "| --- |"},
		{"standalone", "  {{string}}\n", `{"string":"---"}`, "  ---\n"},
		{"triple standalone", "  {{{string}}}\n", `{"string":"---"}`, "  ---\n"},
		{"ampersand standalone", "  {{&string}}\n", `{"string":"---"}`, "  ---\n"},
		{"padding", "|{{ string }}|", `{"string":"---"}`, "|---|"},
		{"triple padding", "|{{{ string }}}|", `{"string":"---"}`, "|---|"},
		{"ampersand padding", "|{{& string }}|", `{"string":"---"}`, "|---|"},
		{"list as JSON", `{{l}}|{{{l}}}`, `{"l":[1,"a",null]}`, `[1,&quot;a&quot;,null]|[1,"a",null]`},
		{"object as JSON", `{{{o}}}`, `{"o":{"b":"<x>","a":[]}}`, `{"a":[],"b":"<x>"}`},
	})
}

// Each escaped character alone (the fast path must notice every one of them), with plain
// text around it, and text with none of them, which comes back unchanged.
func TestEscapeHTMLEachCharacter(t *testing.T) {
	for in, want := range map[string]string{
		"'": "&#39;", "\"": "&quot;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\x00": "\uFFFD",
		"it's": "it&#39;s", "plain text, no entity": "plain text, no entity", "": "",
	} {
		if got := EscapeHTML(in); got != want {
			t.Errorf("EscapeHTML(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFloat64(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{{1.5, "1.5"}, {1e21, "1e+21"}, {85.0, "85"}, {0.1, "0.1"}} {
		got, err := Render("{{v}}", map[string]any{"v": tc.v})
		if err != nil || got != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
	if _, err := Render("{{v}}", map[string]any{"v": struct{}{}}); err == nil || !strings.Contains(err.Error(), "unsupported value type") {
		t.Errorf("struct value: err = %v", err)
	}
}

func TestSections(t *testing.T) {
	runCases(t, []renderCase{
		{"truthy", `"{{#boolean}}This should be rendered.{{/boolean}}"`, `{"boolean":true}`, `"This should be rendered."`},
		{"falsey", `"{{#boolean}}This should not be rendered.{{/boolean}}"`, `{"boolean":false}`, `""`},
		{"null is falsey", `"{{#null}}This should not be rendered.{{/null}}"`, `{"null":null}`, `""`},
		{"context", `"{{#context}}Hi {{name}}.{{/context}}"`, `{"context":{"name":"Joe"}}`, `"Hi Joe."`},
		{"parent contexts", `"{{#sec}}{{a}}, {{b}}, {{c.d}}{{/sec}}"`, `{"a":"foo","b":"wrong","sec":{"b":"bar"},"c":{"d":"baz"}}`, `"foo, bar, baz"`},
		{"variable test", `"{{#foo}}{{.}} is {{foo}}{{/foo}}"`, `{"foo":"bar"}`, `"bar is bar"`},
		{"list contexts", `{{#tops}}{{#middles}}{{tname.lower}}{{mname}}.{{#bottoms}}{{tname.upper}}{{mname}}{{bname}}.{{/bottoms}}{{/middles}}{{/tops}}`,
			`{"tops":[{"tname":{"upper":"A","lower":"a"},"middles":[{"mname":"1","bottoms":[{"bname":"x"},{"bname":"y"}]}]}]}`,
			`a1.A1x.A1y.`},
		{"deeply nested", "{{#a}}\n{{one}}\n{{#b}}\n{{one}}{{two}}{{one}}\n{{#c}}\n{{one}}{{two}}{{three}}{{two}}{{one}}\n{{/c}}\n{{/b}}\n{{/a}}\n",
			`{"a":{"one":1},"b":{"two":2},"c":{"three":3}}`, "1\n121\n12321\n"},
		{"list", `"{{#list}}{{item}}{{/list}}"`, `{"list":[{"item":1},{"item":2},{"item":3}]}`, `"123"`},
		{"empty list", `"{{#list}}Yay lists!{{/list}}"`, `{"list":[]}`, `""`},
		{"doubled", "{{#bool}}\n* first\n{{/bool}}\n* {{two}}\n{{#bool}}\n* third\n{{/bool}}\n", `{"bool":true,"two":"second"}`, "* first\n* second\n* third\n"},
		{"nested truthy", `| A {{#bool}}B {{#bool}}C{{/bool}} D{{/bool}} E |`, `{"bool":true}`, `| A B C D E |`},
		{"nested falsey", `| A {{#bool}}B {{#bool}}C{{/bool}} D{{/bool}} E |`, `{"bool":false}`, `| A  E |`},
		{"context misses", `[{{#missing}}Found key 'missing'!{{/missing}}]`, `{}`, `[]`},
		{"implicit iterator string", `"{{#list}}({{.}}){{/list}}"`, `{"list":["a","b","c","d","e"]}`, `"(a)(b)(c)(d)(e)"`},
		{"implicit iterator integer", `"{{#list}}({{.}}){{/list}}"`, `{"list":[1,2,3,4,5]}`, `"(1)(2)(3)(4)(5)"`},
		{"implicit iterator decimal", `"{{#list}}({{.}}){{/list}}"`, `{"list":[1.10,2.20,3.30]}`, `"(1.10)(2.20)(3.30)"`},
		{"implicit iterator array", `"{{#list}}({{#.}}{{.}}{{/.}}){{/list}}"`, `{"list":[[1,2,3],["a","b","c"]]}`, `"(123)(abc)"`},
		{"implicit iterator html escaping", `"{{#list}}({{.}}){{/list}}"`, `{"list":["&","\"","<",">"]}`, `"(&amp;)(&quot;)(&lt;)(&gt;)"`},
		{"implicit iterator triple", `"{{#list}}({{{.}}}){{/list}}"`, `{"list":["&","\"","<",">"]}`, `"(&)(")(<)(>)"`},
		{"implicit iterator ampersand", `"{{#list}}({{&.}}){{/list}}"`, `{"list":["&","\"","<",">"]}`, `"(&)(")(<)(>)"`},
		{"implicit iterator root-level", `"{{#.}}({{value}}){{/.}}"`, `[{"value":"a"},{"value":"b"}]`, `"(a)(b)"`},
		{"dotted truthy", `"{{#a.b.c}}Here{{/a.b.c}}" == "Here"`, `{"a":{"b":{"c":true}}}`, `"Here" == "Here"`},
		{"dotted falsey", `"{{#a.b.c}}Here{{/a.b.c}}" == ""`, `{"a":{"b":{"c":false}}}`, `"" == ""`},
		{"dotted broken chain", `"{{#a.b.c}}Here{{/a.b.c}}" == ""`, `{"a":{}}`, `"" == ""`},
		{"surrounding whitespace", " | {{#boolean}}\t|\t{{/boolean}} | \n", `{"boolean":true}`, " | \t|\t | \n"},
		{"internal whitespace", " | {{#boolean}} {{! Important Whitespace }}\n {{/boolean}} | \n", `{"boolean":true}`, " |  \n  | \n"},
		{"indented inline", " {{#boolean}}YES{{/boolean}}\n {{#boolean}}GOOD{{/boolean}}\n", `{"boolean":true}`, " YES\n GOOD\n"},
		{"standalone lines", "| This Is\n{{#boolean}}\n|\n{{/boolean}}\n| A Line\n", `{"boolean":true}`, "| This Is\n|\n| A Line\n"},
		{"indented standalone lines", "| This Is\n  {{#boolean}}\n|\n  {{/boolean}}\n| A Line\n", `{"boolean":true}`, "| This Is\n|\n| A Line\n"},
		{"standalone line endings", "|\r\n{{#boolean}}\r\n{{/boolean}}\r\n|", `{"boolean":true}`, "|\r\n|"},
		{"standalone without previous line", "  {{#boolean}}\n#{{/boolean}}\n/", `{"boolean":true}`, "#\n/"},
		{"standalone without newline", "#{{#boolean}}\n/\n  {{/boolean}}", `{"boolean":true}`, "#\n/\n"},
		{"padding", "|{{# boolean }}={{/ boolean }}|", `{"boolean":true}`, "|=|"},
		// Choices documented in the package comment.
		{"empty string is truthy", "[{{#s}}yes:{{.}}{{/s}}{{^s}}no{{/s}}]", `{"s":""}`, "[yes:]"},
		{"zero is truthy", "[{{#n}}yes:{{.}}{{/n}}]", `{"n":0}`, "[yes:0]"},
		{"empty object is truthy", "[{{#o}}yes{{/o}}]", `{"o":{}}`, "[yes]"},
		{"list of scalars and objects", "{{#l}}<{{.}}{{x}}>{{/l}}", `{"l":["a",{"x":"b"},3,true]}`, `<a><{&quot;x&quot;:&quot;b&quot;}b><3><true>`},
	})
}

func TestInverted(t *testing.T) {
	runCases(t, []renderCase{
		{"falsey", `"{{^boolean}}This should be rendered.{{/boolean}}"`, `{"boolean":false}`, `"This should be rendered."`},
		{"truthy", `"{{^boolean}}This should not be rendered.{{/boolean}}"`, `{"boolean":true}`, `""`},
		{"null is falsey", `"{{^null}}This should be rendered.{{/null}}"`, `{"null":null}`, `"This should be rendered."`},
		{"context", `"{{^context}}Found key 'context'!{{/context}}"`, `{"context":{"name":"Joe"}}`, `""`},
		{"list", `"{{^list}}{{n}}{{/list}}"`, `{"list":[{"n":1},{"n":2},{"n":3}]}`, `""`},
		{"empty list", `"{{^list}}Yay lists!{{/list}}"`, `{"list":[]}`, `"Yay lists!"`},
		{"doubled", "{{^bool}}\n* first\n{{/bool}}\n* {{two}}\n{{^bool}}\n* third\n{{/bool}}\n", `{"bool":false,"two":"second"}`, "* first\n* second\n* third\n"},
		{"nested falsey", `| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |`, `{"bool":false}`, `| A B C D E |`},
		{"nested truthy", `| A {{^bool}}B {{^bool}}C{{/bool}} D{{/bool}} E |`, `{"bool":true}`, `| A  E |`},
		{"context misses", `[{{^missing}}Found key 'missing'!{{/missing}}]`, `{}`, `[Found key 'missing'!]`},
		{"dotted truthy", `"{{^a.b.c}}Not Here{{/a.b.c}}" == ""`, `{"a":{"b":{"c":true}}}`, `"" == ""`},
		{"dotted falsey", `"{{^a.b.c}}Not Here{{/a.b.c}}" == "Not Here"`, `{"a":{"b":{"c":false}}}`, `"Not Here" == "Not Here"`},
		{"dotted broken chain", `"{{^a.b.c}}Not Here{{/a.b.c}}" == "Not Here"`, `{"a":{}}`, `"Not Here" == "Not Here"`},
		{"surrounding whitespace", " | {{^boolean}}\t|\t{{/boolean}} | \n", `{"boolean":false}`, " | \t|\t | \n"},
		{"internal whitespace", " | {{^boolean}} {{! Important Whitespace }}\n {{/boolean}} | \n", `{"boolean":false}`, " |  \n  | \n"},
		{"indented inline", " {{^boolean}}NO{{/boolean}}\n {{^boolean}}WAY{{/boolean}}\n", `{"boolean":false}`, " NO\n WAY\n"},
		{"standalone lines", "| This Is\n{{^boolean}}\n|\n{{/boolean}}\n| A Line\n", `{"boolean":false}`, "| This Is\n|\n| A Line\n"},
		{"standalone indented lines", "| This Is\n  {{^boolean}}\n|\n  {{/boolean}}\n| A Line\n", `{"boolean":false}`, "| This Is\n|\n| A Line\n"},
		{"standalone line endings", "|\r\n{{^boolean}}\r\n{{/boolean}}\r\n|", `{"boolean":false}`, "|\r\n|"},
		{"standalone without previous line", "  {{^boolean}}\n^{{/boolean}}\n/", `{"boolean":false}`, "^\n/"},
		{"standalone without newline", "^{{^boolean}}\n/\n  {{/boolean}}", `{"boolean":false}`, "^\n/\n"},
		{"padding", "|{{^ boolean }}={{/ boolean }}|", `{"boolean":false}`, "|=|"},
		{"empty string is truthy", "[{{^s}}no{{/s}}]", `{"s":""}`, "[]"},
	})
}

func TestComments(t *testing.T) {
	runCases(t, []renderCase{
		{"inline", "12345{{! Comment Block! }}67890", `{}`, "1234567890"},
		{"multiline", "12345{{!\n  This is a\n  multi-line comment...\n}}67890\n", `{}`, "1234567890\n"},
		{"standalone", "Begin.\n{{! Comment Block! }}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"indented standalone", "Begin.\n  {{! Indented Comment Block! }}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"standalone line endings", "|\r\n{{! Standalone Comment }}\r\n|", `{}`, "|\r\n|"},
		{"standalone without previous line", "  {{! I'm Still Standalone }}\n!", `{}`, "!"},
		{"standalone without newline", "!\n  {{! I'm Still Standalone }}", `{}`, "!\n"},
		{"multiline standalone", "Begin.\n{{!\nSomething's going on here...\n}}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"indented multiline standalone", "Begin.\n  {{!\n    Something's going on here...\n  }}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"indented inline", "  12 {{! 34 }}\n", `{}`, "  12 \n"},
		{"surrounding whitespace", "12345 {{! Comment Block! }} 67890", `{}`, "12345  67890"},
		{"variable name collision", "comments never show: >{{! comment }}{{! comment= }}{{! comment! }}{{! comment# }}{{! comment^ }}<", `{"! comment":1,"! comment=":2,"!comment":3,"comment":4}`, "comments never show: ><"},
	})
}

func TestDelimiters(t *testing.T) {
	runCases(t, []renderCase{
		{"pair behavior", "{{=<% %>=}}(<%text%>)", `{"text":"Hey!"}`, "(Hey!)"},
		{"special characters", "({{=[ ]=}}[text])", `{"text":"It worked!"}`, "(It worked!)"},
		{"sections", "[\n{{#section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n|#section|\n  {{data}}\n  |data|\n|/section|\n]\n",
			`{"section":true,"data":"I got interpolated."}`,
			"[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolated.\n]\n"},
		{"inverted sections", "[\n{{^section}}\n  {{data}}\n  |data|\n{{/section}}\n\n{{= | | =}}\n|^section|\n  {{data}}\n  |data|\n|/section|\n]\n",
			`{"section":false,"data":"I got interpolated."}`,
			"[\n  I got interpolated.\n  |data|\n\n  {{data}}\n  I got interpolated.\n]\n"},
		{"surrounding whitespace", "| {{=@ @=}} |", `{}`, "|  |"},
		{"outlying whitespace inline", " | {{=@ @=}}\n", `{}`, " | \n"},
		{"standalone tag", "Begin.\n{{=@ @=}}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"indented standalone tag", "Begin.\n  {{=@ @=}}\nEnd.\n", `{}`, "Begin.\nEnd.\n"},
		{"standalone line endings", "|\r\n{{= @ @ =}}\r\n|", `{}`, "|\r\n|"},
		{"standalone without previous line", "  {{=@ @=}}\n=", `{}`, "="},
		{"standalone without newline", "=\n  {{=@ @=}}", `{}`, "=\n"},
		{"pair with padding", "|{{= @   @ =}}|", `{}`, "||"},
		{"triple and ampersand with new delimiters", "{{=<% %>=}}<%{s}%>|<%& s%>|<%s%>|{{s}}", `{"s":"<>"}`, "<>|<>|&lt;&gt;|{{s}}"},
		{"back to default", "{{=<% %>=}}<%a%><%={{ }}=%>{{a}}", `{"a":"x"}`, "xx"},
	})
}

// A standalone section tag with blanks after it takes its whole line, blanks and newline
// included.
func TestStandaloneTagWithTrailingBlanks(t *testing.T) {
	runCases(t, []renderCase{
		{"trailing spaces", "{{#a}}  \nX\n{{/a}}\t \nY", `{"a":true}`, "X\nY"},
		{"trailing spaces, CRLF", "{{#a}}  \r\nX\r\n{{/a}} \r\nY", `{"a":true}`, "X\r\nY"},
	})
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{"a\nb\n{{#items}}\nx\n", `unclosed section "items" opened at line 3:1`},
		{"{{#a}}{{#b}}{{/b}}", `unclosed section "a" opened at line 1:1`},
		{"{{#a}}\n  {{/b}}", `mismatched close tag "b" at line 2:3: section "a" opened at line 1:1`},
		{"x{{/a}}", `unexpected close tag "a" at line 1:2`},
		{"ab\ncd {{name", `unclosed tag "{{" at line 2:4`},
		{"ab{{", `unclosed tag "{{" at line 1:3`}, // the template ends with the open tag
		{"{{{name}}", `unclosed tag "{{" at line 1:1`},
		{"{{! never closed", `unclosed comment "{{!" at line 1:1`},
		{"{{=<% %>=}}\n<%name", `unclosed tag "<%" at line 2:1`},
		{"{{=<%=}}", `invalid set-delimiters tag "{{=<%=}}" at line 1:1`},
		{"{{= a b c =}}", `invalid set-delimiters tag`},
		{"hi {{> user}}", `partials are not supported: "{{> user}}" at line 1:4`},
		{"{{}}", `tag "{{}}" has no name at line 1:1`},
		{"{{# }}{{/}}", `section tag "{{# }}" has no name at line 1:1`},
	} {
		_, err := Parse(tc.tmpl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): err = %v, want %q", tc.tmpl, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error is not one line: %q", tc.tmpl, err)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("Hello, {{name}}!", `{"name":"<world>"}`)
	f.Add("{{#l}}\n- {{.}}\n{{/l}}\n{{^e}}none{{/e}}", `{"l":[1,"a",null],"e":[]}`)
	f.Add("{{=<% %>=}}<%{x}%><%& x.y%>", `{"x":{"y":"z"}}`)
	f.Fuzz(func(t *testing.T, tmpl, js string) {
		// Nested sections over lists multiply the output; keep it small enough to be fast.
		if len(tmpl) > 2048 || len(js) > 200 || strings.Count(tmpl, "#") > 3 {
			return
		}
		dec := json.NewDecoder(strings.NewReader(js))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			v = map[string]any{"a": []any{"x", map[string]any{"b": true}}, "s": "<&>"}
		}
		t1, err := Parse(tmpl)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if _, err := t1.Render(v); err != nil {
			t.Fatalf("Render of JSON data failed: %v", err)
		}
	})
}
