package plan

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Budgets: user data is trusted to say what to do but must never exhaust PID 1, so every
// size that user data controls is bounded, checked cheapest first, and exceeding a bound is
// an error naming it (never a silent truncation). README "Security and limits" lists them.
const (
	// MaxUserDataBytes bounds user data as fetched and after gzip decompression: 16 times
	// the 16 KB EC2 accepts raw. It also bounds the YAML library's node tree (about 200
	// bytes of allocation per node, at most about one node per byte of text) to ~50 MB.
	MaxUserDataBytes = 256 << 10
	// MaxExpandedBytes bounds the scalar bytes of the user data document with every YAML
	// alias expanded (each use of an alias charges the size of its target again).
	MaxExpandedBytes = 1 << 20
	// MaxExpandedNodes bounds the node count of the document with every alias expanded.
	MaxExpandedNodes = maxNodes
	// MaxPlanBytes bounds the encoded plan: Compile refuses a bigger plan, Encode never
	// writes one and ReadFile never reads more.
	MaxPlanBytes = 8 << 20
	// maxScanDepth bounds the recursion of the expansion scan (nesting plus alias chains).
	maxScanDepth = 1000
)

// sizeText renders a budget for messages: "256 KiB", "1 MiB".
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// errUserDataSize is the error for user data over MaxUserDataBytes; what is "raw" or
// "after gzip decompression".
func errUserDataSize(what string) error {
	return fmt.Errorf("user data is larger than %s %s (bootplan's limit; EC2 itself accepts 16 KB raw): make it smaller", sizeText(MaxUserDataBytes), what)
}

// expansion measures a yaml.Node document as if every alias were expanded, without
// expanding anything: the expanded size of an alias target is computed once (memo) and
// charged again at every use. It stops at the first node that goes over a budget.
type expansion struct {
	memo         map[*yaml.Node]cost
	busy         map[*yaml.Node]bool // on the current path: an alias to it is a cycle
	bytes, nodes int64
	at           *yaml.Node // where a budget ran out
	why          string
}

type cost struct{ bytes, nodes int64 }

// CheckExpansion charges the document's expanded size against MaxExpandedBytes and
// MaxExpandedNodes before anything walks or decodes it. It returns nil or one error
// diagnostic located at the node (usually an alias) where the budget ran out.
func CheckExpansion(file string, doc *yaml.Node) *Diagnostic {
	e := &expansion{memo: map[*yaml.Node]cost{}, busy: map[*yaml.Node]bool{}}
	if e.walk(doc, 0) {
		return nil
	}
	d := &Diagnostic{File: file, Message: e.why, Severity: SeverityError}
	if e.at != nil {
		d.Line, d.Col = e.at.Line, e.at.Column
	}
	return d
}

// charge adds c to the running total; false (and the reason) once a budget is exceeded.
func (e *expansion) charge(n *yaml.Node, c cost) bool {
	e.bytes += c.bytes
	e.nodes += c.nodes
	if why := over(cost{e.bytes, e.nodes}); why != "" {
		e.fail(n, why)
		return false
	}
	return true
}

// over says which budget c exceeds ("" if none).
func over(c cost) string {
	switch {
	case c.bytes > MaxExpandedBytes:
		return fmt.Sprintf("user data is larger than %s once YAML aliases are expanded (bootplan's limit; every use of an alias counts its whole value again): use fewer or smaller aliases", sizeText(MaxExpandedBytes))
	case c.nodes > MaxExpandedNodes:
		return fmt.Sprintf("user data has more than %d YAML values once aliases are expanded (bootplan's limit): use fewer or smaller lists, mappings and aliases", MaxExpandedNodes)
	}
	return ""
}

func (e *expansion) fail(n *yaml.Node, why string) {
	if e.why == "" {
		e.at, e.why = n, why
	}
}

// walk charges every node of the tree once and every alias use with its target's expanded
// cost.
func (e *expansion) walk(n *yaml.Node, depth int) bool {
	if depth > maxScanDepth {
		e.fail(n, fmt.Sprintf("user data is nested more than %d levels deep (bootplan's limit)", maxScanDepth))
		return false
	}
	if n.Kind == yaml.AliasNode {
		c, ok := e.size(n.Alias, depth+1)
		if !ok {
			e.at = n // report the use, not the anchor
			return false
		}
		return e.charge(n, c)
	}
	if !e.charge(n, cost{int64(len(n.Value)), 1}) {
		return false
	}
	for _, c := range n.Content {
		if !e.walk(c, depth+1) {
			return false
		}
	}
	return true
}

// size is the expanded cost of the subtree at n, memoized; false if it cannot be expanded
// within the budgets (or at all: an alias to one of its own ancestors).
func (e *expansion) size(n *yaml.Node, depth int) (cost, bool) {
	if n == nil {
		return cost{}, true
	}
	if c, ok := e.memo[n]; ok {
		return c, true
	}
	if depth > maxScanDepth {
		e.fail(n, fmt.Sprintf("user data is nested more than %d levels deep, counting aliases (bootplan's limit)", maxScanDepth))
		return cost{}, false
	}
	if e.busy[n] {
		e.fail(n, "a YAML alias refers to a value that contains it: the value would be infinite")
		return cost{}, false
	}
	e.busy[n] = true
	defer delete(e.busy, n)
	var c cost
	if n.Kind == yaml.AliasNode {
		t, ok := e.size(n.Alias, depth+1)
		if !ok {
			return cost{}, false
		}
		c = t
	} else {
		c = cost{int64(len(n.Value)), 1}
		for _, k := range n.Content {
			t, ok := e.size(k, depth+1)
			if !ok {
				return cost{}, false
			}
			c.bytes += t.bytes
			c.nodes += t.nodes
			// One subtree over a budget is over it wherever it is used.
			if why := over(c); why != "" {
				e.fail(n, why)
				return cost{}, false
			}
		}
	}
	e.memo[n] = c
	return c, true
}

// maxDiagnostics bounds the diagnostics of one user data file: 100k bad list items must not
// make 100k messages (and plan warnings). The rest are counted in one last line.
const maxDiagnostics = 100

// full reports (and counts) a diagnostic of severity sev that does not fit any more.
func (p *parser) full(sev Severity) bool {
	if len(p.diags) < maxDiagnostics {
		return false
	}
	p.dropped[sev]++
	return true
}

// summarizeDropped appends (after sorting: it stays last) the count of dropped diagnostics,
// once, as an error if any dropped one was an error (dropping never turns a refusal into an
// acceptance).
func (p *parser) summarizeDropped() {
	errs, warns := p.dropped[SeverityError], p.dropped[SeverityWarning]
	if errs+warns == 0 {
		return
	}
	p.dropped = [2]int{}
	d := Diagnostic{File: p.file, Severity: SeverityWarning,
		Message: fmt.Sprintf("%d more problems not shown (errors: %d, warnings: %d; bootplan reports at most %d)", errs+warns, errs, warns, maxDiagnostics)}
	if errs > 0 {
		d.Severity = SeverityError
	}
	p.diags = append(p.diags, d)
}
