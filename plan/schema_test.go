package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite schema/user-data.schema.json")

const schemaFile = "../schema/user-data.schema.json"

// The committed schema is what `bootplan schema` prints (regenerate with -update-schema, or
// `make schema`).
func TestSchemaUpToDate(t *testing.T) {
	got := JSONSchema()
	if *updateSchema || *update {
		if err := os.MkdirAll(filepath.Dir(schemaFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -run TestSchemaUpToDate -update-schema)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./plan -run TestSchemaUpToDate -update-schema", schemaFile)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlToJSON turns a YAML document into the JSON value an editor's YAML language server
// checks: scalars typed by their resolved tag, merge keys applied, aliases followed.
func yamlToJSON(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return yamlToJSON(n.Content[0])
	case yaml.AliasNode:
		return yamlToJSON(n.Alias)
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, yamlToJSON(c))
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		merged := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				for _, src := range mergeSources(v) {
					if m, ok := yamlToJSON(src).(map[string]any); ok {
						for mk, mv := range m {
							if _, seen := merged[mk]; !seen {
								merged[mk] = mv
							}
						}
					}
				}
				continue
			}
			out[k.Value] = yamlToJSON(v)
		}
		for k, v := range merged {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
		return out
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	case "!!int", "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
		}
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
	}
	return n.Value
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return []*yaml.Node{v}
}

// typeOrKeyError says whether a diagnostic is about the shape of the file (what a schema
// describes): an unknown key, a missing field, a wrong type.
func typeOrKeyError(d Diagnostic) bool {
	if d.Severity != SeverityError {
		return false
	}
	for _, s := range []string{"unknown key", "field is required", "must be a ", "must be true or false", "keys must be strings", "must be one mapping", "unsupported filesystem",
		"must not be negative", "must be an absolute path", "script must start with"} {
		if strings.Contains(d.Message, s) {
			return true
		}
	}
	return false
}

// Every user-data file of the repository that validate accepts, the schema accepts; every one
// validate rejects for a type or key error, the schema rejects.
func TestSchemaAgreesWithValidate(t *testing.T) {
	s := compileSchema(t)
	var files []string
	for _, glob := range []string{"testdata/*/user-data*", "testdata/*/*/user-data*", "../tests/scenarios/*/user-data*", "../schema/testdata/*.yaml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	accepted, rejected := 0, 0
	for _, f := range files {
		if strings.HasSuffix(f, ".gz") || strings.HasSuffix(f, ".golden") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(f); fi.IsDir() {
			continue
		}
		ud, diags := ParseUserData(f, raw, true)
		_ = ud
		var doc yaml.Node
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			continue // a syntax error: nothing for a schema to say
		}
		if len(doc.Content) == 0 {
			continue
		}
		verr := s.Validate(yamlToJSON(&doc))
		switch {
		case !diags.HasErrors():
			accepted++
			if verr != nil {
				t.Errorf("%s: validate accepts it, the schema rejects it: %v", f, verr)
			}
		default:
			shape := false
			for _, d := range diags {
				shape = shape || typeOrKeyError(d)
			}
			if shape {
				rejected++
				if verr == nil {
					t.Errorf("%s: validate rejects it (%s), the schema accepts it", f, diags[0])
				}
			}
		}
	}
	t.Logf("%d files accepted by both, %d rejected by both", accepted, rejected)
	if accepted < 50 || rejected < 5 {
		t.Fatalf("too few files compared (%d accepted, %d rejected): the globs are wrong", accepted, rejected)
	}
}
