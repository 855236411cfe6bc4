package stage2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/internal/mustache"
	"github.com/bootplan/bootplan/plan"
)

// fileEntry is one file a volume writes: its path relative to the destination ("" = the
// destination itself) and a way to get its bytes.
type fileEntry struct {
	rel   string
	label string // source name for errors ("s3://b/k", "ssm:/p/x")
	fetch func(ctx context.Context) ([]byte, error)
}

// VolumeLabel names a file volume in logs and errors.
func VolumeLabel(v plan.Volume) string {
	switch v.Kind {
	case plan.KindS3:
		return "S3 volume s3://" + v.Bucket + "/" + v.KeyPrefix
	case plan.KindSSM:
		return "SSM volume " + v.Path
	case plan.KindSecretsManager:
		return "secrets-manager volume " + v.SecretID
	case plan.KindTemplate:
		return "template volume"
	}
	return v.Kind + " volume"
}

// FileVolume writes one s3, ssm, secrets-manager or template volume. An optional volume that
// fails for any reason is skipped with an info line (graph.ErrSkip is returned).
func (rt *Runtime) FileVolume(ctx context.Context, i int, v plan.Volume) error {
	var err error
	switch v.Kind {
	case plan.KindS3:
		err = rt.s3Volume(ctx, v)
	case plan.KindSSM:
		err = rt.ssmVolume(ctx, v)
	case plan.KindSecretsManager:
		err = rt.secretVolume(ctx, v)
	case plan.KindTemplate:
		err = rt.templateVolume(v)
	default:
		err = fmt.Errorf("volume[%d]: %q is not a file volume", i, v.Kind)
	}
	if err == nil {
		return nil
	}
	if v.Optional {
		if v.Kind == plan.KindTemplate {
			console.Infof("optional template volume at %s failed, skipping: %v", v.Destination, err)
		} else {
			console.Infof("optional %s at %s failed, skipping: %v", VolumeLabel(v), v.Destination, err)
		}
		return fmt.Errorf("%w: optional volume at %s failed", graph.ErrSkip, v.Destination)
	}
	return err
}

// VolumeRelPath turns a key or parameter name into a path under the destination (pure):
// the prefix is removed when the name starts with it, leading slashes are dropped, and any
// ".." component, NUL or empty component in the middle is refused. "" means the destination
// itself.
func VolumeRelPath(name, prefix string) (string, error) {
	rel := name
	if prefix != "" && strings.HasPrefix(rel, prefix) {
		rel = rel[len(prefix):]
	}
	rel = strings.TrimLeft(rel, "/")
	if rel == "" {
		return "", nil
	}
	if strings.IndexByte(rel, 0) >= 0 {
		return "", fmt.Errorf("name %q contains NUL", name)
	}
	for _, c := range strings.Split(rel, "/") {
		if c == ".." {
			return "", fmt.Errorf("name %q would escape the destination", name)
		}
	}
	clean := path.Clean(rel)
	if clean == "." {
		return "", nil
	}
	if path.IsAbs(clean) || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("name %q would escape the destination", name)
	}
	return clean, nil
}

// joinUnder joins dst and rel and checks the result stays under dst.
func joinUnder(dst, rel string) (string, error) {
	dst = path.Clean(dst)
	if rel == "" {
		return dst, nil
	}
	full := path.Join(dst, rel)
	if full != dst && !strings.HasPrefix(full, strings.TrimSuffix(dst, "/")+"/") {
		return "", fmt.Errorf("%s would escape %s", rel, dst)
	}
	return full, nil
}

// checkNoSymlinks refuses a symlink at dst or at any component between dst and full.
func (rt *Runtime) checkNoSymlinks(dst, full string) error {
	dst = path.Clean(dst)
	comps := []string{dst}
	if full != dst {
		rest := strings.TrimPrefix(full, strings.TrimSuffix(dst, "/")+"/")
		cur := dst
		for _, c := range strings.Split(rest, "/") {
			cur = path.Join(cur, c)
			comps = append(comps, cur)
		}
	}
	for _, c := range comps {
		fi, err := rt.Host.Lstat(c)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing further down exists either
			}
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("refusing to write %s: %s is a symlink", full, c)
		}
	}
	return nil
}

// writeVolumeFile writes one file of a volume with the volume's mode (setuid, setgid and
// sticky honoured, as on EBS) and owner.
//
// Missing directories above the destination are created 0755 and stay root's. The
// destination and everything below it (the tree of an S3 prefix or SSM path, which the
// workload may own) are walked one directory at a time without following symlinks, missing
// ones created 0755 with the volume's owner, and the file is written with the safe writer in
// the last one (internal/fsutil): nothing planted there, before or during the write, can make
// PID 1 write or chown anything else.
func (rt *Runtime) writeVolumeFile(v plan.Volume, full string, data []byte) error {
	if err := rt.checkNoSymlinks(v.Destination, full); err != nil {
		return err
	}
	dst := path.Clean(v.Destination)
	if dst == "/" || !path.IsAbs(dst) {
		return fmt.Errorf("destination %q: want an absolute path below /", v.Destination)
	}
	base, rel := path.Dir(dst), path.Base(dst)
	if full != dst {
		rel += "/" + strings.TrimPrefix(full, dst+"/")
	}
	if _, err := rt.Host.MkdirAll(base, 0o755); err != nil {
		return err
	}
	_, err := rt.Host.WriteFileBeneath(base, rel, data, unixMode(v.Mode), int(v.UID), int(v.GID))
	return err
}

// writeEntries checks every path first (nothing is written when one would escape), then
// fetches and writes each file.
func (rt *Runtime) writeEntries(ctx context.Context, v plan.Volume, entries []fileEntry) error {
	fulls := make([]string, len(entries))
	for k, e := range entries {
		full, err := joinUnder(v.Destination, e.rel)
		if err != nil {
			return fmt.Errorf("%s: %w", e.label, err)
		}
		if err := rt.checkNoSymlinks(v.Destination, full); err != nil {
			return fmt.Errorf("%s: %w", e.label, err)
		}
		fulls[k] = full
	}
	for k, e := range entries {
		data, err := e.fetch(ctx)
		if err != nil {
			return fmt.Errorf("%s: %s", e.label, awsErr(err))
		}
		if err := rt.writeVolumeFile(v, fulls[k], data); err != nil {
			return fmt.Errorf("%s: %w", e.label, err)
		}
	}
	return nil
}

func (rt *Runtime) s3Volume(ctx context.Context, v plan.Volume) error {
	c, err := rt.aws().S3(ctx)
	if err != nil {
		return err
	}
	where := "s3://" + v.Bucket + "/" + v.KeyPrefix
	var entries []fileEntry
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(v.Bucket), Prefix: aws.String(v.KeyPrefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("S3 ListObjectsV2 failed for %s: %s", where, awsErr(err))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			rel, err := VolumeRelPath(key, v.KeyPrefix)
			if err != nil {
				return fmt.Errorf("s3://%s/%s: %w", v.Bucket, key, err)
			}
			entries = append(entries, fileEntry{rel: rel, label: "s3://" + v.Bucket + "/" + key,
				fetch: func(ctx context.Context) ([]byte, error) { return rt.getS3Object(ctx, v.Bucket, key) }})
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("no S3 objects found at %s", where)
	}
	if err := rt.writeEntries(ctx, v, entries); err != nil {
		return err
	}
	console.Infof("S3 volume %s written to %s (%d files)", where, v.Destination, len(entries))
	return nil
}

func (rt *Runtime) ssmVolume(ctx context.Context, v plan.Volume) error {
	c, err := rt.aws().SSM(ctx)
	if err != nil {
		return err
	}
	var entries []fileEntry
	if strings.HasPrefix(v.Path, "/") {
		p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{
			Path: aws.String(v.Path), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true), MaxResults: aws.Int32(10),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("SSM GetParametersByPath failed for %s: %s", v.Path, awsErr(err))
			}
			for _, prm := range page.Parameters {
				name := aws.ToString(prm.Name)
				value := []byte(aws.ToString(prm.Value))
				rel, err := VolumeRelPath(name, strings.TrimSuffix(v.Path, "/"))
				if err != nil {
					return fmt.Errorf("ssm:%s: %w", name, err)
				}
				entries = append(entries, fileEntry{rel: rel, label: "ssm:" + name,
					fetch: func(context.Context) ([]byte, error) { return value, nil }})
			}
		}
	}
	if len(entries) == 0 {
		value, err := rt.getParameter(ctx, v.Path)
		if err != nil {
			return fmt.Errorf("SSM GetParameter failed for %s: %s", v.Path, awsErr(err))
		}
		entries = []fileEntry{{rel: "", label: "ssm:" + v.Path,
			fetch: func(context.Context) ([]byte, error) { return value, nil }}}
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].rel < entries[b].rel })
	if err := rt.writeEntries(ctx, v, entries); err != nil {
		return err
	}
	console.Infof("SSM volume %s written to %s (%d files)", v.Path, v.Destination, len(entries))
	return nil
}

func (rt *Runtime) secretVolume(ctx context.Context, v plan.Volume) error {
	value, err := rt.getSecret(ctx, v.SecretID)
	if err != nil {
		//lint:ignore ST1005 the console line starts with the service's proper name (kept from easyto)
		return fmt.Errorf("Secrets Manager GetSecretValue failed for %s: %s", v.SecretID, awsErr(err))
	}
	if err := rt.writeEntries(ctx, v, []fileEntry{{rel: "", label: "secrets-manager:" + v.SecretID,
		fetch: func(context.Context) ([]byte, error) { return value, nil }}}); err != nil {
		return err
	}
	console.Infof("secrets-manager volume %s written to %s", v.SecretID, v.Destination)
	return nil
}

func (rt *Runtime) templateVolume(v plan.Volume) error {
	out, err := RenderTemplate(v.Content, v.Variables, rt.Env)
	if err != nil {
		return fmt.Errorf("failed to render template to %s: %w", v.Destination, err)
	}
	if err := rt.writeVolumeFile(v, path.Clean(v.Destination), []byte(out)); err != nil {
		return fmt.Errorf("failed to render template to %s: %w", v.Destination, err)
	}
	console.Infof("template volume rendered to %s", v.Destination)
	return nil
}

// RenderTemplate renders content with Mustache (pure). variablesJSON "" means the content is
// written literally. Otherwise it is decoded (numbers kept as written) and every string value,
// at any depth, is $(VAR)-expanded against env (keys are not).
func RenderTemplate(content, variablesJSON string, env []plan.EnvVar) (string, error) {
	if strings.TrimSpace(variablesJSON) == "" {
		return content, nil
	}
	dec := json.NewDecoder(strings.NewReader(variablesJSON))
	dec.UseNumber()
	var vars any
	err := dec.Decode(&vars)
	if err != nil {
		return "", fmt.Errorf("invalid variables: %s", jsonErr(err))
	}
	switch vars.(type) {
	case nil:
		return content, nil
	case map[string]any:
	default:
		return "", errors.New("InvalidVariableMapping: variables must be a mapping")
	}
	if m := vars.(map[string]any); len(m) == 0 {
		return content, nil
	}
	lookupMap := make(map[string]string, len(env))
	for _, e := range env {
		lookupMap[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) { s, ok := lookupMap[n]; return s, ok }
	budget := plan.MaxTemplateVariables
	if vars, err = expandStrings(vars, lookup, &budget); err != nil {
		return "", err
	}

	out, err := mustache.Render(content, vars)
	if err != nil {
		return "", fmt.Errorf("mustache: %w", err)
	}
	return out, nil
}

// expandStrings expands every string in v; budget is what the expanded strings may still take
// together (plan.MaxTemplateVariables for one template).
func expandStrings(v any, lookup func(string) (string, bool), budget *int) (any, error) {
	var err error
	switch t := v.(type) {
	case string:
		s, ok := plan.ExpandMax(t, lookup, *budget)
		if !ok {
			return nil, fmt.Errorf("variables: the strings grow past %d MiB with $(VAR) references expanded: make them smaller", plan.MaxTemplateVariables>>20)
		}
		*budget -= len(s)
		return s, nil
	case map[string]any:
		for k, x := range t {
			if t[k], err = expandStrings(x, lookup, budget); err != nil {
				return nil, err
			}
		}
		return t, nil
	case []any:
		for k, x := range t {
			if t[k], err = expandStrings(x, lookup, budget); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	return v, nil
}
