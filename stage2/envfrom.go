package stage2

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
)

// EnvFromFailure is the console line kept from easyto for any env-from failure.
const EnvFromFailure = "unable to resolve environment variables from external sources"

// maxObjectSize bounds one S3 object read into memory (env-from and file volumes).
const maxObjectSize = 10 << 20

// missingCodes are the AWS error codes that mean "this object/parameter/secret is not there".
// S3 answers AccessDenied for a missing key when the caller may not list the bucket.
var missingCodes = map[string]bool{
	"NoSuchKey":                 true,
	"NoSuchBucket":              true,
	"NotFound":                  true,
	"AccessDenied":              true,
	"ParameterNotFound":         true,
	"ParameterVersionNotFound":  true,
	"ResourceNotFoundException": true,
}

// errMissing marks a source that was not found (for "optional").
var errMissing = errors.New("not found")

// isMissing reports whether err means the source is absent: a not-found AWS code, an IMDS
// 404, or no region / no credentials at all.
func isMissing(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errMissing) || errors.Is(err, imds.ErrNotFound) || errors.Is(err, ErrNoRegion) || errors.Is(err, ErrNoCredentials) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return missingCodes[ae.ErrorCode()]
	}
	return false
}

// awsErr renders an AWS error as "Code: message" (the SDK's own string is long and repeats the
// operation); anything else as is.
func awsErr(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := ae.ErrorMessage()
		if msg == "" {
			return ae.ErrorCode()
		}
		return ae.ErrorCode() + ": " + oneLine(msg)
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// EnvFromSource names a source the way errors and logs show it.
func EnvFromSource(ef plan.EnvFrom) string {
	switch ef.Kind {
	case plan.KindIMDS:
		return "imds:" + ef.Path
	case plan.KindS3:
		return "s3://" + ef.Bucket + "/" + ef.Key
	case plan.KindSSM:
		return "ssm:" + ef.Path
	case plan.KindSecretsManager:
		return "secrets-manager:" + ef.SecretID
	}
	return ef.Kind
}

// FetchEnvFrom resolves env-from source i. It returns the variables (names from the source,
// values never logged). An optional source that fails in any way — not found, access denied,
// no region or credentials, a value that is not the JSON it should be — returns nil and an
// error wrapping graph.ErrSkip after one info line, as easyto does. Any failure of a source
// that is not optional is one line naming the index, the source and the AWS error code.
func (rt *Runtime) FetchEnvFrom(ctx context.Context, i int, ef plan.EnvFrom) ([]plan.EnvVar, error) {
	src := EnvFromSource(ef)
	// skip reports whether a failure of this source is skipped; a boot being stopped is not.
	skip := func(what string, err string) bool {
		if !ef.Optional || ctx.Err() != nil {
			return false
		}
		console.Infof("optional env-from[%d] %s %s, skipping: %s", i, src, what, err)
		return true
	}
	raw, err := rt.fetchRaw(ctx, ef)
	if err != nil {
		what := "failed"
		if isMissing(err) {
			what = "not found"
		}
		if skip(what, awsErr(err)) {
			return nil, fmt.Errorf("%w: optional %s %s", graph.ErrSkip, src, what)
		}
		return nil, fmt.Errorf("env-from[%d] %s: %s", i, src, awsErr(err))
	}
	b64 := ef.Base64
	if b64 && strings.TrimSpace(ef.Name) == "" {
		// easyto's README: base64-encode is for a value fetched with name.
		console.Warnf("env-from[%d] %s: base64-encode applies only to a value fetched with name; ignored", i, src)
		b64 = false
	}
	vars, skipped, err := EnvFromValue(raw, ef.Name, b64)
	if err != nil {
		if skip("failed", err.Error()) {
			return nil, fmt.Errorf("%w: optional %s failed", graph.ErrSkip, src)
		}
		return nil, fmt.Errorf("env-from[%d] %s: %w", i, src, err)
	}
	if len(skipped) > 0 {
		q := make([]string, len(skipped))
		for k, s := range skipped {
			q[k] = strconv.Quote(s)
		}
		console.Infof("env-from[%d] %s: skipped keys %s (null, array or object: not a variable value)", i, src, strings.Join(q, ", "))
	}
	names := make([]string, len(vars))
	for k, v := range vars {
		names[k] = v.Name
	}
	console.Debugf("env-from[%d] %s: %s", i, src, strings.Join(names, ", "))
	return vars, nil
}

// EnvFromValue turns fetched bytes into variables (pure). With name: one variable, the value
// trimmed of surrounding whitespace, or with b64 the standard base64 of the raw bytes. Without
// name (b64 is then ignored, as easyto does): a one-level JSON object; strings as is, numbers
// as written, bools as true/false; members that are null, arrays or objects are skipped and
// their keys returned in skipped (easyto skips them too); duplicate keys are refused.
func EnvFromValue(raw []byte, name string, b64 bool) (vars []plan.EnvVar, skipped []string, err error) {
	name = strings.TrimSpace(name)
	if name != "" {
		v := strings.TrimSpace(string(raw))
		if b64 {
			v = base64.StdEncoding.EncodeToString(raw)
		}
		return []plan.EnvVar{{Name: name, Value: v}}, nil, nil
	}
	return parseEnvJSON(raw)
}

// parseEnvJSON reads a one-level JSON object, keeping member order. Error messages name keys,
// never values.
func parseEnvJSON(raw []byte) (out []plan.EnvVar, skipped []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON (want an object of names to values, or set name): %s", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("invalid JSON: want an object of names to values (or set name), got %s", jsonKind(tok))
	}
	seen := map[string]bool{}
	for member := 1; dec.More(); member++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %s", jsonErr(err))
		}
		key, _ := tok.(string)
		// The whole value, nested ones included, so that a skipped member is consumed. Until
		// it is read, the "key" may be a value out of place ({"A":"x","s3cr3t"}): errors
		// before that name the member's position only.
		var rv json.RawMessage
		if err := dec.Decode(&rv); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON in member %d: %s", member, jsonErr(err))
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("invalid JSON: duplicate key %q", key)
		}
		seen[key] = true
		var v string
		switch rv[0] {
		case 'n', '[', '{':
			skipped = append(skipped, key)
			continue
		case '"':
			if err := json.Unmarshal(rv, &v); err != nil {
				return nil, nil, fmt.Errorf("invalid JSON at key %q: %s", key, jsonErr(err))
			}
		default: // a number as written, true or false
			v = string(rv)
		}
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return nil, nil, fmt.Errorf("invalid JSON: key %q is not a valid variable name", key)
		}
		out = append(out, plan.EnvVar{Name: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %s", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("invalid JSON: data after the object")
	}
	return out, skipped, nil
}

// jsonErr hides the offending text a syntax error may quote (it could be a secret).
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "malformed input"
}

func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a bool"
	}
	return "a value"
}

// fetchRaw reads the source's bytes.
func (rt *Runtime) fetchRaw(ctx context.Context, ef plan.EnvFrom) ([]byte, error) {
	switch ef.Kind {
	case plan.KindIMDS:
		if rt.IMDS == nil {
			return nil, errors.New("no IMDS client")
		}
		return rt.IMDS.Get(ctx, "meta-data/"+strings.TrimPrefix(ef.Path, "/"))
	case plan.KindS3:
		return rt.getS3Object(ctx, ef.Bucket, ef.Key)
	case plan.KindSSM:
		return rt.getParameter(ctx, ef.Path)
	case plan.KindSecretsManager:
		return rt.getSecret(ctx, ef.SecretID)
	}
	return nil, fmt.Errorf("unknown env-from kind %q", ef.Kind)
}

func (rt *Runtime) aws() *AWS {
	if rt.AWS == nil {
		rt.AWS = NewAWS(rt.IMDS)
	}
	return rt.AWS
}

func (rt *Runtime) getS3Object(ctx context.Context, bucket, key string) ([]byte, error) {
	c, err := rt.aws().S3(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxObjectSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading object: %w", err)
	}
	if len(b) > maxObjectSize {
		return nil, fmt.Errorf("object is larger than %d MiB", maxObjectSize>>20)
	}
	return b, nil
}

func (rt *Runtime) getParameter(ctx context.Context, name string) ([]byte, error) {
	c, err := rt.aws().SSM(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("parameter has no value")
	}
	return []byte(*out.Parameter.Value), nil
}

func (rt *Runtime) getSecret(ctx context.Context, id string) ([]byte, error) {
	c, err := rt.aws().SecretsManager(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, err
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	if out.SecretBinary != nil {
		return out.SecretBinary, nil
	}
	return nil, errors.New("secret has neither a string nor a binary value")
}
