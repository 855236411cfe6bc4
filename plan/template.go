package plan

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// nonStringKey reports a template variable whose key is not a string, naming the key. easyto
// fails such a render with NonStringMappingKey.
func (p *parser) nonStringKey(k *yaml.Node, path string) {
	if k.Kind != yaml.ScalarNode {
		p.errorf(k, path, "variable names must be strings, got %s", describe(k))
		return
	}
	name := clip(k.Value)
	if name == "" {
		name = "null"
	}
	p.errorf(k, path, "variable name %s is %s, not a string (quote it: %q)", name, describe(k), name)
}

// skipOptionalTemplate turns the errors found in an optional template's variables since
// diags[from] into one warning and leaves the volume out of the plan: easyto renders the
// template at boot, and an optional template that fails to render (NonStringMappingKey,
// InvalidVariableMapping) is skipped with a line naming the cause. Called once the
// destination is known.
func (p *parser) skipOptionalTemplate(v *UserVolume, from, to int) {
	if p.diags[to:].HasErrors() {
		return // the volume is wrong in other ways too: report everything as errors
	}
	var first *Diagnostic
	kept := p.diags[:from:from]
	for _, d := range p.diags[from:to] {
		if d.Severity == SeverityError && first == nil {
			d := d
			first = &d
		} else if d.Severity != SeverityError {
			kept = append(kept, d)
		}
	}
	if first == nil {
		return
	}
	kept = append(kept, Diagnostic{
		File: first.File, Line: first.Line, Col: first.Col, Path: first.Path, Severity: SeverityWarning,
		Message: fmt.Sprintf("optional template volume at %s failed, skipping: %s", v.Destination, first.Message),
	})
	p.diags = append(kept, p.diags[to:]...)
	v.skip = true
}
