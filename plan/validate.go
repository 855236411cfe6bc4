package plan

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// FSTypes are the filesystems an EBS volume may be formatted with (mkfs.<type> in /.easyto/sbin).
var FSTypes = []string{"ext2", "ext3", "ext4", "xfs", "btrfs"}

// Validate checks the plan's invariants: what Compile guarantees and stage two relies on. It
// reports every problem, joined with "; ", each naming the plan field.
func (p *Plan) Validate() error {
	if p == nil {
		return fmt.Errorf("plan: nil")
	}
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if p.Version != Version {
		bad("version", "is %d, want %d", p.Version, Version)
	}
	c := p.Command
	if len(c.Argv) == 0 {
		bad("command.argv", "must not be empty")
	} else if c.Argv[0] == "" {
		bad("command.argv[0]", "must not be empty")
	}
	if err := checkAbs(c.WorkingDir); err != nil {
		bad("command.working_dir", "%v", err)
	}
	if c.ShutdownGrace < 0 {
		bad("command.shutdown_grace_seconds", "must not be negative (got %d)", c.ShutdownGrace)
	}
	for i, e := range p.Env {
		if err := checkEnvName(e.Name); err != nil {
			bad(fmt.Sprintf("env[%d].name", i), "%v", err)
		}
	}
	for i, e := range p.EnvFrom {
		f := fmt.Sprintf("env_from[%d]", i)
		if e.Name != "" {
			if err := checkEnvName(e.Name); err != nil {
				bad(f+".name", "%v", err)
			}
		}
		switch e.Kind {
		case KindIMDS:
			if e.Name == "" {
				bad(f+".name", "is required for kind imds")
			}
			if e.Path == "" {
				bad(f+".path", "is required for kind imds")
			}
		case KindS3:
			if e.Bucket == "" {
				bad(f+".bucket", "is required for kind s3")
			}
			if e.Key == "" {
				bad(f+".key", "is required for kind s3")
			}
		case KindSSM:
			if e.Path == "" {
				bad(f+".path", "is required for kind ssm")
			}
		case KindSecretsManager:
			if e.SecretID == "" {
				bad(f+".secret_id", "is required for kind secrets-manager")
			}
		default:
			bad(f+".kind", "unknown kind %q (want imds, s3, ssm, secrets-manager)", e.Kind)
		}
	}
	for i, v := range p.Volumes {
		f := fmt.Sprintf("volume[%d]", i)
		if v.Mode > 0o7777 {
			bad(f+".mode", "out of range (%o)", uint32(v.Mode))
		}
		if (v.ModeGiven || v.UIDGiven || v.GIDGiven) && (v.Kind != KindEBS || v.Destination == "") {
			bad(f+".mode_given", "mode_given, uid_given and gid_given are only for a mounted ebs volume")
		}
		needDest := true
		switch v.Kind {
		case KindEBS:
			if err := checkAbs(v.Device); err != nil {
				bad(f+".device", "%v", err)
			}
			needDest = false
			if v.Destination != "" {
				if !contains(FSTypes, v.FSType) {
					bad(f+".fs_type", "unsupported filesystem %q (want %s)", v.FSType, strings.Join(FSTypes, ", "))
				}
			} else if v.FSType != "" || len(v.MountOptions) > 0 {
				bad(f+".destination", "is required when fs_type or mount_options is set")
			}
			if a := v.Attachment; a != nil {
				if a.TimeoutSeconds <= 0 {
					bad(f+".attachment.timeout_seconds", "must be positive (got %d)", a.TimeoutSeconds)
				}
				for j, t := range a.Tags {
					if t.Key == "" {
						bad(fmt.Sprintf("%s.attachment.tag[%d].key", f, j), "must not be empty")
					}
					if !t.HasValue && t.Value != "" {
						bad(fmt.Sprintf("%s.attachment.tag[%d].value", f, j), "set but has_value is false")
					}
				}
			}
		case KindS3:
			if v.Bucket == "" {
				bad(f+".bucket", "is required for kind s3")
			}
		case KindSSM:
			if v.Path == "" {
				bad(f+".path", "is required for kind ssm")
			}
		case KindSecretsManager:
			if v.SecretID == "" {
				bad(f+".secret_id", "is required for kind secrets-manager")
			}
		case KindTemplate:
			if v.Variables != "" {
				var m map[string]any
				if err := json.Unmarshal([]byte(v.Variables), &m); err != nil || m == nil {
					bad(f+".variables_json", "must be a JSON object or empty")
				}
			}
		default:
			bad(f+".kind", "unknown kind %q (want ebs, s3, ssm, secrets-manager, template)", v.Kind)
			needDest = false
		}
		if needDest || v.Destination != "" {
			if err := checkAbs(v.Destination); err != nil {
				bad(f+".destination", "%v", err)
			}
		}
	}
	for i, m := range p.Modules {
		if err := checkModuleName(m.Name); err != nil {
			bad(fmt.Sprintf("module[%d].name", i), "%v", err)
		}
	}
	for i, s := range p.Sysctls {
		if err := CheckSysctlName(s.Name); err != nil {
			bad(fmt.Sprintf("sysctl[%d].name", i), "%v", err)
		}
	}
	for i, s := range p.InitScripts {
		if s.Content == "" {
			bad(fmt.Sprintf("init_script[%d].content", i), "must not be empty")
		}
	}
	seen := map[string]bool{}
	for i, s := range p.Services {
		f := fmt.Sprintf("service[%d]", i)
		if s.Name == "" {
			bad(f+".name", "must not be empty")
		} else if seen[s.Name] {
			bad(f+".name", "duplicate service %q", s.Name)
		}
		seen[s.Name] = true
		if s.Enabled && len(s.Argv) == 0 {
			bad(f+".argv", "must not be empty for an enabled service")
		}
		if !s.Enabled && s.Reason == "" {
			bad(f+".reason", "must say why the service is disabled")
		}
	}
	errs = append(errs, p.hostileProblems()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid plan: %s", strings.Join(errs, "; "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkAbs(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("must not be empty")
	case !path.IsAbs(p):
		return fmt.Errorf("must be an absolute path (got %q)", p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("must not contain NUL")
	}
	return nil
}

func checkEnvName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("must not be empty")
	case strings.ContainsAny(n, "=\x00"):
		return fmt.Errorf("invalid name %q: must not contain '=' or NUL", n)
	}
	return nil
}

func checkModuleName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("must not be empty")
	case strings.ContainsAny(n, "/\x00 \t\r\n"):
		return fmt.Errorf("invalid module name %q: must not contain '/' or whitespace", n)
	}
	return nil
}
