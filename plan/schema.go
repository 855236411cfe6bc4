package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// The user-data format as a table. The parser takes every object's known keys from it
// (keysOf), and `bootplan schema` renders it as a JSON Schema, so the two cannot drift.
// Types describe what the parser accepts after YAML decoding: a "string" field takes any
// scalar (easyto's decoder turns 1 and true into "1" and "true"), a boolean takes true/false
// (and their quoted spellings), a number takes an integer or a numeric string.

// SchemaType is a node's type in the table.
type SchemaType int

// Schema node types.
const (
	TString    SchemaType = iota // any scalar, read as a string
	TBool                        // true/false
	TUint32                      // whole number 0..4294967295 (ids)
	TSeconds                     // whole number 0..2147483647
	TMode                        // octal permission, e.g. "0640"
	TAbsPath                     // absolute path
	TScript                      // a script starting with "#!"
	TObject                      // mapping with Fields
	TList                        // sequence of Elem
	TAnyMap                      // mapping of anything (template variables)
	TOneOrList                   // an object, or a list of exactly one such object
)

// SchemaNode describes one value of the format.
type SchemaNode struct {
	Type   SchemaType
	Fields []SchemaField // TObject, TOneOrList
	Elem   *SchemaNode   // TList
	Enum   []string      // allowed values of a TString
	// ExtKeys: keys starting with "x-" are allowed (top level only).
	ExtKeys bool
}

// SchemaField is one key of an object.
type SchemaField struct {
	Key      string
	Node     *SchemaNode
	Required bool
	// NullOK: null is accepted and means the default even when the field is required
	// (`value:` with nothing after it is "").
	NullOK  bool
	Default any
	Desc    string
}

func str() *SchemaNode                 { return &SchemaNode{Type: TString} }
func boolean() *SchemaNode             { return &SchemaNode{Type: TBool} }
func listOf(e *SchemaNode) *SchemaNode { return &SchemaNode{Type: TList, Elem: e} }
func obj(f ...SchemaField) *SchemaNode { return &SchemaNode{Type: TObject, Fields: f} }

var (
	schemaNameValue = obj(
		SchemaField{Key: "name", Node: str(), Required: true, Desc: "the name"},
		SchemaField{Key: "value", Node: str(), Required: true, NullOK: true, Desc: "the value (null or empty: \"\")"},
	)
	schemaSSHD     = obj(SchemaField{Key: "enable", Node: boolean(), Default: false, Desc: "start sshd (when the image has the ssh service)"})
	schemaSecurity = obj(
		SchemaField{Key: "readonly-root-fs", Node: boolean(), Default: false, Desc: "remount / read-only before the command starts"},
		SchemaField{Key: "run-as-user-id", Node: &SchemaNode{Type: TUint32}, Desc: "uid of the command (default: the image's USER, else 0)"},
		SchemaField{Key: "run-as-group-id", Node: &SchemaNode{Type: TUint32}, Desc: "gid of the command (default: the user's group)"},
		SchemaField{Key: "sshd", Node: schemaSSHD, Desc: "sshd settings"},
	)
	schemaEnvFromIMDS = obj(
		SchemaField{Key: "name", Node: str(), Required: true, Desc: "environment variable to set"},
		SchemaField{Key: "path", Node: str(), Required: true, Desc: "metadata path under meta-data/, e.g. local-ipv4"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this source instead of failing the boot"},
	)
	// One key list for the three AWS sources, as easyto's decoder has.
	schemaEnvFromAWS = obj(
		SchemaField{Key: "name", Node: str(), Desc: "environment variable for the whole value; without it the value is a JSON object (or KEY=VALUE lines) of variables"},
		SchemaField{Key: "path", Node: str(), Desc: "ssm: parameter name"},
		SchemaField{Key: "bucket", Node: str(), Desc: "s3: bucket"},
		SchemaField{Key: "key", Node: str(), Desc: "s3: object key"},
		SchemaField{Key: "secret-id", Node: str(), Desc: "secrets-manager: secret name or ARN"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this source instead of failing the boot"},
		SchemaField{Key: "base64-encode", Node: boolean(), Default: false, Desc: "base64-encode the value (with name)"},
	)
	schemaEnvFromItem = obj(
		SchemaField{Key: KindIMDS, Node: schemaEnvFromIMDS, Desc: "a value from instance metadata"},
		SchemaField{Key: KindS3, Node: withRequired(schemaEnvFromAWS, "bucket", "key"), Desc: "an S3 object"},
		SchemaField{Key: KindSSM, Node: withRequired(schemaEnvFromAWS, "path"), Desc: "an SSM parameter"},
		SchemaField{Key: KindSecretsManager, Node: withRequired(schemaEnvFromAWS, "secret-id"), Desc: "a Secrets Manager secret"},
	)
	schemaMount = obj(
		SchemaField{Key: "destination", Node: &SchemaNode{Type: TAbsPath}, Required: true, Desc: "where the volume goes"},
		SchemaField{Key: "fs-type", Node: &SchemaNode{Type: TString, Enum: FSTypes}, Desc: "ebs: filesystem (made on a blank disk, never on one that holds data)"},
		SchemaField{Key: "user-id", Node: &SchemaNode{Type: TUint32}, Desc: "owner of the files (default: the run-as user)"},
		SchemaField{Key: "group-id", Node: &SchemaNode{Type: TUint32}, Desc: "group of the files (default: the run-as group)"},
		SchemaField{Key: "mode", Node: &SchemaNode{Type: TMode}, Desc: "octal mode, quoted (\"0640\")"},
		SchemaField{Key: "options", Node: listOf(str()), Desc: "ebs: mount options, e.g. [noatime]"},
	)
	schemaTag        = obj(SchemaField{Key: "key", Node: str(), Required: true, Desc: "tag key"}, SchemaField{Key: "value", Node: str(), Desc: "tag value (absent: any value)"})
	schemaAttachment = &SchemaNode{Type: TOneOrList, Fields: []SchemaField{
		{Key: "tags", Node: listOf(schemaTag), Desc: "attach an available volume in the zone with these tags"},
		{Key: "timeout", Node: &SchemaNode{Type: TSeconds}, Default: 300, Desc: "seconds to wait for the attachment"},
	}}
	schemaVolEBS = obj(
		SchemaField{Key: "device", Node: &SchemaNode{Type: TAbsPath}, Required: true, Desc: "device name, e.g. /dev/sdf"},
		SchemaField{Key: "attachment", Node: schemaAttachment, Desc: "attach the volume at boot"},
		SchemaField{Key: "mount", Node: withRequired(schemaMount, "fs-type"), Desc: "where and how to mount it"},
	)
	schemaVolS3 = obj(
		SchemaField{Key: "bucket", Node: str(), Required: true, Desc: "bucket"},
		SchemaField{Key: "key-prefix", Node: str(), Default: "", Desc: "prefix of the objects to copy (default: the whole bucket)"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this volume"},
		SchemaField{Key: "mount", Node: schemaMount, Required: true, Desc: "where the files go"},
	)
	schemaVolSSM = obj(
		SchemaField{Key: "path", Node: str(), Required: true, Desc: "parameter name or path (a tree becomes files)"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this volume"},
		SchemaField{Key: "mount", Node: schemaMount, Required: true, Desc: "where the files go"},
	)
	schemaVolSM = obj(
		SchemaField{Key: "secret-id", Node: str(), Required: true, Desc: "secret name or ARN"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this volume"},
		SchemaField{Key: "mount", Node: schemaMount, Required: true, Desc: "the file to write"},
	)
	schemaVolTemplate = obj(
		SchemaField{Key: "content", Node: str(), Required: true, NullOK: true, Desc: "Mustache template"},
		SchemaField{Key: "variables", Node: &SchemaNode{Type: TAnyMap}, Desc: "values for the template"},
		SchemaField{Key: "optional", Node: boolean(), Default: false, Desc: "a failure skips this volume"},
		SchemaField{Key: "mount", Node: schemaMount, Required: true, Desc: "the file to write"},
	)
	schemaVolumeItem = obj(
		SchemaField{Key: KindEBS, Node: schemaVolEBS, Desc: "an EBS volume"},
		SchemaField{Key: KindS3, Node: schemaVolS3, Desc: "files from S3"},
		SchemaField{Key: KindSSM, Node: schemaVolSSM, Desc: "files from SSM parameters"},
		SchemaField{Key: KindSecretsManager, Node: schemaVolSM, Desc: "a file from a secret"},
		SchemaField{Key: KindTemplate, Node: schemaVolTemplate, Desc: "a file rendered from a template"},
	)
	volumeSchemas = map[string]*SchemaNode{KindEBS: schemaVolEBS, KindS3: schemaVolS3, KindSSM: schemaVolSSM,
		KindSecretsManager: schemaVolSM, KindTemplate: schemaVolTemplate}
	// UserDataSchema is the whole format.
	UserDataSchema = &SchemaNode{Type: TObject, ExtKeys: true, Fields: []SchemaField{
		{Key: "args", Node: listOf(str()), Desc: "replaces the image's CMD"},
		{Key: "command", Node: listOf(str()), Desc: "replaces the image's ENTRYPOINT (and drops its CMD)"},
		{Key: "debug", Node: boolean(), Default: false, Desc: "debug lines on the console"},
		{Key: "disable-services", Node: listOf(str()), Desc: "services not to start: chrony, ssh"},
		{Key: "env", Node: listOf(schemaNameValue), Desc: "environment variables; $(VAR) refers to another"},
		{Key: "env-from", Node: listOf(schemaEnvFromItem), Desc: "environment from IMDS, S3, SSM or Secrets Manager"},
		{Key: "init-scripts", Node: listOf(&SchemaNode{Type: TScript}), Desc: "scripts run before the command, in order"},
		{Key: "modules", Node: listOf(str()), Desc: "kernel modules to load (\"name param=value\")"},
		{Key: "replace-init", Node: boolean(), Default: false, Desc: "exec the command as PID 1 instead of supervising it"},
		{Key: "security", Node: schemaSecurity, Desc: "user, read-only root, sshd"},
		{Key: "shutdown-grace-period", Node: &SchemaNode{Type: TSeconds}, Default: DefaultShutdownGrace, Desc: "seconds between SIGTERM and SIGKILL at shutdown"},
		{Key: "sysctls", Node: listOf(schemaNameValue), Desc: "kernel parameters to set"},
		{Key: "volumes", Node: listOf(schemaVolumeItem), Desc: "EBS volumes and files from S3, SSM, Secrets Manager or a template"},
		{Key: "working-dir", Node: &SchemaNode{Type: TAbsPath}, Desc: "working directory (default: the image's WORKDIR, else /)"},
	}}
)

// withRequired copies an object node with the named fields made required.
func withRequired(n *SchemaNode, keys ...string) *SchemaNode {
	c := *n
	c.Fields = append([]SchemaField(nil), n.Fields...)
	for i := range c.Fields {
		for _, k := range keys {
			if c.Fields[i].Key == k {
				c.Fields[i].Required = true
			}
		}
	}
	return &c
}

// keysOf lists an object node's keys, for the parser's unknown-key check.
func keysOf(n *SchemaNode) []string {
	ks := make([]string, len(n.Fields))
	for i, f := range n.Fields {
		ks[i] = f.Key
	}
	return ks
}

// SchemaID is where the published schema lives in the repository.
const SchemaID = "https://github.com/bootplan/bootplan/raw/main/schema/user-data.schema.json"

// JSONSchema renders the table as a JSON Schema (draft 2020-12), indented, with a trailing
// newline.
func JSONSchema() []byte {
	root := jsonNode(UserDataSchema, false)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "bootplan / easyto user data"
	root["description"] = "User data of an easyto-style EC2 image (bootplan, easyto-init). Keys starting with x- are free for YAML anchors."
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		panic(err) // the table is static: a failure is a programming error caught by tests
	}
	return b.Bytes()
}

type jmap = map[string]any

var (
	numericString = jmap{"type": "string", "pattern": `^\s*\+?[0-9]+(\.0*)?\s*$`}
	boolStrings   = []any{"true", "True", "TRUE", "false", "False", "FALSE"}
)

// jsonNode renders one node; nullable adds null to the accepted types.
func jsonNode(n *SchemaNode, nullable bool) jmap {
	var m jmap
	switch n.Type {
	case TString:
		m = jmap{"type": []any{"string", "number", "boolean"}}
		if len(n.Enum) > 0 {
			e := make([]any, len(n.Enum))
			for i, v := range n.Enum {
				e[i] = v
			}
			m = jmap{"type": "string", "enum": e}
		}
	case TBool:
		m = jmap{"anyOf": []any{jmap{"type": "boolean"}, jmap{"type": "string", "enum": boolStrings}}}
	case TUint32, TSeconds:
		max := float64(math.MaxUint32)
		if n.Type == TSeconds {
			max = math.MaxInt32
		}
		m = jmap{"anyOf": []any{jmap{"type": "number", "minimum": 0, "maximum": max, "multipleOf": 1}, numericString}}
	case TMode:
		m = jmap{"anyOf": []any{jmap{"type": "string", "pattern": `^(0[oO])?[0-7]{1,4}$`}, jmap{"type": "integer", "minimum": 0}}}
	case TAbsPath:
		m = jmap{"type": "string", "pattern": "^/"}
	case TScript:
		m = jmap{"type": "string", "pattern": "^#!"}
	case TList:
		m = jmap{"type": "array", "items": jsonNode(n.Elem, false)}
	case TAnyMap:
		m = jmap{"type": "object"}
	case TObject:
		m = jsonObject(n)
	case TOneOrList:
		o := jsonObject(n)
		m = jmap{"anyOf": []any{o, jmap{"type": "array", "items": o, "minItems": 1, "maxItems": 1}}}
	default:
		panic(fmt.Sprintf("schema: unknown node type %d", n.Type))
	}
	if nullable {
		m = jmap{"anyOf": []any{m, jmap{"type": "null"}}}
	}
	return m
}

func jsonObject(n *SchemaNode) jmap {
	props := jmap{}
	var req []any
	var order []string
	for _, f := range n.Fields {
		p := jsonNode(f.Node, !f.Required || f.NullOK)
		p["description"] = f.Desc
		if f.Default != nil {
			p["default"] = f.Default
		}
		props[f.Key] = p
		order = append(order, f.Key)
		if f.Required {
			req = append(req, f.Key)
		}
	}
	m := jmap{"type": "object", "properties": orderedProps{order, props}, "additionalProperties": false}
	if n.ExtKeys {
		m["patternProperties"] = jmap{"^x-": jmap{}}
	}
	if len(req) > 0 {
		m["required"] = req
	}
	return m
}

// orderedProps keeps properties in table order in the output (a map would sort them).
type orderedProps struct {
	keys []string
	m    jmap
}

func (o orderedProps) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.m[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
