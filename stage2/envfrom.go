package stage2

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
// values never logged) or, for an optional source that is missing, nil and an error wrapping
// graph.ErrSkip after an info line. Any other failure is one line naming the index, the source and
// the AWS error code.
func (rt *Runtime) FetchEnvFrom(ctx context.Context, i int, ef plan.EnvFrom) ([]plan.EnvVar, error) {
	src := EnvFromSource(ef)
	raw, err := rt.fetchRaw(ctx, ef)
	if err != nil {
		if ef.Optional && isMissing(err) {
			console.Infof("optional env-from[%d] %s not found, skipping: %s", i, src, awsErr(err))
			return nil, fmt.Errorf("%w: optional %s not found", graph.ErrSkip, src)
		}
		return nil, fmt.Errorf("env-from[%d] %s: %s", i, src, awsErr(err))
	}
	vars, err := EnvFromValue(raw, ef.Name, ef.Base64)
	if err != nil {
		return nil, fmt.Errorf("env-from[%d] %s: %w", i, src, err)
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
// name: a one-level JSON object; strings as is, numbers as written, bools as true/false;
// null, arrays and objects are refused naming the key, as are duplicate keys. With b64 each
// member's value is encoded.
func EnvFromValue(raw []byte, name string, b64 bool) ([]plan.EnvVar, error) {
	name = strings.TrimSpace(name)
	if name != "" {
		v := strings.TrimSpace(string(raw))
		if b64 {
			v = base64.StdEncoding.EncodeToString(raw)
		}
		return []plan.EnvVar{{Name: name, Value: v}}, nil
	}
	vars, err := parseEnvJSON(raw)
	if err != nil {
		return nil, err
	}
	if b64 {
		for k := range vars {
			vars[k].Value = base64.StdEncoding.EncodeToString([]byte(vars[k].Value))
		}
	}
	return vars, nil
}

// parseEnvJSON reads a one-level JSON object, keeping member order. Error messages name keys,
// never values.
func parseEnvJSON(raw []byte) ([]plan.EnvVar, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON (want an object of names to values, or set name): %s", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("invalid JSON: want an object of names to values (or set name), got %s", jsonKind(tok))
	}
	var out []plan.EnvVar
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %s", jsonErr(err))
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("invalid JSON: duplicate key %q", key)
		}
		seen[key] = true
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return nil, fmt.Errorf("invalid JSON: key %q is not a valid variable name", key)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON at key %q: %s", key, jsonErr(err))
		}
		var v string
		switch t := tok.(type) {
		case string:
			v = t
		case json.Number:
			v = t.String()
		case bool:
			v = fmt.Sprint(t)
		default:
			return nil, fmt.Errorf("key %q: %s is not allowed (want string, number or bool)", key, jsonKind(tok))
		}
		out = append(out, plan.EnvVar{Name: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return out, nil
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
	case json.Number:
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
	prm, err := c.GetParameter(ctx, name)
	if err != nil {
		return nil, err
	}
	if prm.Value == nil {
		return nil, fmt.Errorf("parameter has no value")
	}
	return []byte(*prm.Value), nil
}

func (rt *Runtime) getSecret(ctx context.Context, id string) ([]byte, error) {
	c, err := rt.aws().SecretsManager(ctx)
	if err != nil {
		return nil, err
	}
	str, bin, err := c.GetSecretValue(ctx, id)
	if err != nil {
		return nil, err
	}
	if str != nil {
		return []byte(*str), nil
	}
	if bin != nil {
		return bin, nil
	}
	return nil, errors.New("secret has neither a string nor a binary value")
}
