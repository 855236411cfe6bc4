package plan

import (
	"fmt"
	"strings"
	"unicode"
)

// Redacted replaces env values in summaries unless values are revealed.
const Redacted = "<redacted>"

// Summary renders the plan for a console: command line, user, working directory, env names
// (values redacted unless reveal), env-from sources, volumes, modules, sysctls, init scripts
// (first line and size), services, network and warnings. It never shows template content.
func (p *Plan) Summary(reveal bool) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	s := p.Source
	line("plan:        version %d, compiled %s by %s", p.Version, s.CompiledAt.Format("2006-01-02T15:04:05Z07:00"), s.Compiler)
	ud := "none"
	if s.UserData {
		ud = "sha256 " + short(s.UserDataSHA256)
	}
	md := "none"
	if s.MetadataSHA256 != "" {
		md = "sha256 " + short(s.MetadataSHA256)
	}
	line("inputs:      user data %s, metadata.json %s", ud, md)
	c := p.Command
	line("command:     %s", ShellQuote(c.Argv))
	user := fmt.Sprintf("uid %d, gid %d", c.UID, c.GID)
	if len(c.Groups) > 0 {
		g := make([]string, len(c.Groups))
		for i, x := range c.Groups {
			g[i] = fmt.Sprint(x)
		}
		user += ", groups " + strings.Join(g, ",")
	}
	line("user:        %s", user)
	line("working dir: %s", c.WorkingDir)
	var opts []string
	if c.ReplaceInit {
		opts = append(opts, "replace-init (exec, no supervisor)")
	} else {
		opts = append(opts, "supervised")
	}
	if c.Reboot {
		opts = append(opts, "reboot at shutdown")
	}
	if c.ReadonlyRoot {
		opts = append(opts, "read-only root")
	}
	opts = append(opts, fmt.Sprintf("shutdown grace %ds", c.ShutdownGrace))
	if p.Debug {
		opts = append(opts, "debug")
	}
	line("options:     %s", strings.Join(opts, ", "))
	if len(p.Env) > 0 {
		line("env:")
		for _, e := range p.Env {
			v := Redacted
			if reveal {
				v = e.Value
			}
			from := ""
			if e.Literal {
				from = "  (image)"
			}
			line("  %s=%s%s", e.Name, v, from)
		}
	}
	if len(p.EnvFrom) > 0 {
		line("env-from:")
		for _, e := range p.EnvFrom {
			line("  %s", e.describe())
		}
	}
	if len(p.Volumes) > 0 {
		line("volumes:")
		for _, v := range p.Volumes {
			line("  %s", v.describe())
		}
	}
	if len(p.Modules) > 0 {
		m := make([]string, len(p.Modules))
		for i, x := range p.Modules {
			m[i] = strings.Join(append([]string{x.Name}, x.Params...), " ")
		}
		line("modules:     %s", strings.Join(m, ", "))
	}
	if len(p.Sysctls) > 0 {
		line("sysctls:")
		for _, x := range p.Sysctls {
			line("  %s = %s", x.Name, x.Value)
		}
	}
	if len(p.InitScripts) > 0 {
		line("init scripts:")
		for i, x := range p.InitScripts {
			first, _, _ := strings.Cut(x.Content, "\n")
			line("  [%d] %s (%d bytes)", i, first, len(x.Content))
		}
	}
	if len(p.Services) > 0 {
		line("services:")
		for _, x := range p.Services {
			switch {
			case !x.Enabled:
				line("  %s: disabled (%s)", x.Name, x.Reason)
			case x.Optional:
				line("  %s: enabled, optional: %s", x.Name, ShellQuote(x.Argv))
			default:
				line("  %s: enabled: %s", x.Name, ShellQuote(x.Argv))
			}
		}
	}
	line("network:     %s", p.Network.describe())
	if len(s.Warnings) > 0 {
		line("warnings:")
		for _, w := range s.Warnings {
			line("  %s", w)
		}
	}
	return b.String()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (e EnvFrom) describe() string {
	var src string
	switch e.Kind {
	case KindIMDS:
		src = "imds meta-data/" + e.Path
	case KindS3:
		src = "s3 s3://" + e.Bucket + "/" + e.Key
	case KindSSM:
		src = "ssm " + e.Path
	case KindSecretsManager:
		src = "secrets-manager " + e.SecretID
	default:
		src = e.Kind
	}
	dst := "JSON object members"
	if e.Name != "" {
		dst = e.Name
	}
	s := src + " -> " + dst
	var flags []string
	if e.Base64 {
		flags = append(flags, "base64")
	}
	if e.Optional {
		flags = append(flags, "optional")
	}
	if len(flags) > 0 {
		s += " (" + strings.Join(flags, ", ") + ")"
	}
	return s
}

func (v Volume) describe() string {
	var s string
	switch v.Kind {
	case KindEBS:
		s = "ebs " + v.Device
		if a := v.Attachment; a != nil {
			tags := make([]string, len(a.Tags))
			for i, t := range a.Tags {
				tags[i] = t.Key
				if t.HasValue {
					tags[i] += "=" + t.Value
				}
			}
			filter := "any available volume"
			if len(tags) > 0 {
				filter = "tags " + strings.Join(tags, ",")
			}
			s += fmt.Sprintf(" (attach %s, timeout %ds)", filter, a.TimeoutSeconds)
		}
		if v.Destination == "" {
			return s + " (attach only, not mounted)"
		}
		s += " -> " + v.Destination + " " + v.FSType
		if len(v.MountOptions) > 0 {
			s += " (" + strings.Join(v.MountOptions, ",") + ")"
		}
	case KindS3:
		s = "s3 s3://" + v.Bucket + "/" + v.KeyPrefix + " -> " + v.Destination
	case KindSSM:
		s = "ssm " + v.Path + " -> " + v.Destination
	case KindSecretsManager:
		s = "secrets-manager " + v.SecretID + " -> " + v.Destination
	case KindTemplate:
		s = fmt.Sprintf("template (%d bytes", len(v.Content))
		if v.Variables != "" {
			s += ", with variables"
		}
		s += ") -> " + v.Destination
	default:
		s = v.Kind + " -> " + v.Destination
	}
	s += fmt.Sprintf(" %d:%d %s", v.UID, v.GID, v.Mode)
	if v.Kind == KindEBS && v.Destination != "" {
		var newOnly []string
		for _, f := range []struct {
			given bool
			name  string
		}{{v.UIDGiven, "uid"}, {v.GIDGiven, "gid"}, {v.ModeGiven, "mode"}} {
			if !f.given {
				newOnly = append(newOnly, f.name)
			}
		}
		if len(newOnly) > 0 {
			s += " (" + strings.Join(newOnly, ", ") + " only on a new filesystem)"
		}
	}
	if v.Optional {
		s += " optional"
	}
	return s
}

func (n Network) describe() string {
	if !n.Configured {
		return "not configured"
	}
	parts := []string{n.Interface}
	if n.Address != "" {
		parts = append(parts, n.Address)
	}
	if n.Gateway != "" {
		parts = append(parts, "gateway "+n.Gateway)
	}
	if len(n.DNS) > 0 {
		parts = append(parts, "dns "+strings.Join(n.DNS, ","))
	}
	if n.Hostname != "" {
		parts = append(parts, "hostname "+n.Hostname)
	}
	if n.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", n.MTU))
	}
	if v6 := n.IPv6; v6 != nil {
		s := "ipv6 " + strings.Join(v6.Addresses, " ")
		if v6.Gateway != "" {
			s += " gateway " + v6.Gateway
		}
		if len(v6.DNS) > 0 {
			s += " dns " + strings.Join(v6.DNS, ",")
		}
		if v6.DHCPv6Server == "" {
			s += " (SLAAC)"
		}
		parts = append(parts, s)
	}
	if n.IMDSEndpoint != "" {
		parts = append(parts, "imds "+n.IMDSEndpoint)
	}
	return strings.Join(parts, ", ")
}

// ShellQuote renders argv as a shell-like command line (single-quoting where needed).
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]{}#~!") {
			out[i] = a
			continue
		}
		if strings.ContainsFunc(a, unicode.IsControl) {
			out[i] = ansiCQuote(a) // keeps a multi-line script on one console line
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// ansiCQuote renders s as a bash $'...' string, with control characters escaped.
func ansiCQuote(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for _, r := range s {
		switch r {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if unicode.IsControl(r) {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Redact returns a copy of the plan with env values replaced by Redacted (for raw output).
func (p *Plan) Redact() *Plan {
	q := *p
	q.Env = make([]EnvVar, len(p.Env))
	for i, e := range p.Env {
		e.Value = Redacted
		q.Env[i] = e
	}
	q.Env = nilIfEmpty(q.Env)
	return &q
}
