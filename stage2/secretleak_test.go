package stage2

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// Distinctive secret values, one per source kind, so a leak names its source.
const (
	leakIMDS      = "LEAK-imds-7c1e"
	leakS3Named   = "LEAK-s3-named-44ab"
	leakS3B64     = "LEAK-s3-b64-90fe"
	leakS3JSON    = "LEAK-s3-json-3d2c"
	leakSSMNamed  = "LEAK-ssm-named-e5f1"
	leakSSMJSON   = "LEAK-ssm-json-0b77"
	leakSMNamed   = "LEAK-sm-named-c3a9"
	leakSMB64     = "LEAK-sm-b64-51d0"
	leakSMJSON    = "LEAK-sm-json-8e26"
	leakSSMB64    = "LEAK-ssm-b64-6a3e"
	leakSMJSONB64 = "LEAK-sm-json-b64-c0f2"
	leakVolS3     = "LEAK-vol-s3-1f4b"
	leakVolSSM    = "LEAK-vol-ssm-a62d"
	leakVolSM     = "LEAK-vol-sm-77c5"
	leakBad       = "LEAK-in-bad-input-2e9f" // inside fetched content that fails to parse
	leakDirSecret = "LEAK-dir-0d13"          // a secret that names a directory on the path
)

// allLeaks is every secret byte string the test forbids: the values and their base64 forms
// (what a base64-encode source puts in the environment).
func allLeaks() []string {
	vals := []string{leakIMDS, leakS3Named, leakS3B64, leakS3JSON, leakSSMNamed, leakSSMJSON,
		leakSMNamed, leakSMB64, leakSMJSON, leakSSMB64, leakSMJSONB64, leakVolS3, leakVolSSM, leakVolSM, leakBad, leakDirSecret}
	out := append([]string{}, vals...)
	for _, v := range vals {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return out
}

// seedLeaks puts every secret in moto and returns the imds config serving the IMDS one.
func seedLeaks(f *fixture) {
	f.bucket("sec")
	f.object("sec", "named.txt", leakS3Named)
	f.object("sec", "b64.bin", leakS3B64)
	f.object("sec", "env.json", `{"S3_JSON":"`+leakS3JSON+`"}`)
	f.object("sec", "files/app.key", leakVolS3)
	f.param("/sec/named", leakSSMNamed, true)
	f.param("/sec/json", `{"SSM_JSON":"`+leakSSMJSON+`"}`, true)
	f.param("/secvol/tls/key", leakVolSSM, true)
	f.param("/sec/b64", leakSSMB64, true)
	f.secret("sec/jsonb64", `{"SM_JSON_B64":"`+leakSMJSONB64+`"}`)
	f.secret("sec/named", leakSMNamed)
	f.secret("sec/b64", leakSMB64)
	f.secret("sec/json", `{"SM_JSON":"`+leakSMJSON+`","DIR":"`+leakDirSecret+`"}`)
	f.secret("sec/vol", leakVolSM)
}

// leakPlan is a plan that fetches every secret through every env-from kind (with and without
// name, base64) and every file volume kind, plus a template rendering secrets. The command
// references secrets in its argv.
func leakPlan(f *fixture) *plan.Plan {
	p := f.basePlan()
	p.EnvFrom = []plan.EnvFrom{
		{Kind: "imds", Name: "IMDS_SECRET", Path: "tags/instance/secret"},
		{Kind: "s3", Bucket: "sec", Key: "named.txt", Name: "S3_NAMED"},
		{Kind: "s3", Bucket: "sec", Key: "b64.bin", Name: "S3_B64", Base64: true},
		{Kind: "s3", Bucket: "sec", Key: "env.json"},
		{Kind: "ssm", Path: "/sec/named", Name: "SSM_NAMED"},
		{Kind: "ssm", Path: "/sec/json"},
		{Kind: "secrets-manager", SecretID: "sec/named", Name: "DB_PASS"},
		{Kind: "secrets-manager", SecretID: "sec/b64", Name: "SM_B64", Base64: true},
		{Kind: "secrets-manager", SecretID: "sec/json", Base64: false},
		{Kind: "ssm", Path: "/sec/b64", Name: "SSM_B64", Base64: true},
		{Kind: "secrets-manager", SecretID: "sec/jsonb64", Base64: true},
		{Kind: "secrets-manager", SecretID: "sec/absent", Optional: true},
	}
	p.Env = []plan.EnvVar{
		{Name: "PATH", Value: "/usr/bin:/bin"},
		{Name: "DSN", Value: "postgres://u:$(DB_PASS)@db/$(SM_JSON)"},
	}
	p.Volumes = []plan.Volume{
		{Kind: "s3", Bucket: "sec", KeyPrefix: "files/", Destination: "/etc/s3vol", Mode: 0o600},
		{Kind: "ssm", Path: "/secvol", Destination: "/etc/ssmvol", Mode: 0o600},
		{Kind: "secrets-manager", SecretID: "sec/vol", Destination: "/etc/smvol.key", Mode: 0o600},
		{Kind: "template", Destination: "/etc/tmpl.conf", Mode: 0o600,
			Content:   "a={{a}} b={{b}} c={{{c}}} d={{d}}\n",
			Variables: `{"a":"$(DB_PASS)","b":"$(IMDS_SECRET)","c":"$(S3_JSON)","d":"$(SSM_NAMED)-$(SM_B64)"}`},
	}
	p.Command.Argv = []string{"/bin/app", "--password=$(DB_PASS)", "--key=$(S3_NAMED)"}
	return p
}

// execPathFailHost fails replace-init's execve naming the program by its path, as the real host
// does.
type execPathFailHost struct{ *SandboxHost }

func (h execPathFailHost) Exec(cmd Cmd) error {
	h.SandboxHost.Exec(cmd)
	return fmt.Errorf("%s: Exec format error", cmd.Path)
}

// TestSecretsNeverLeak drives every failure path of stage two that a replay can reach, each
// with every secret kind fetched, and checks that no secret byte string shows in the console,
// the journal, the report (0644), the error or the failure banner.
func TestSecretsNeverLeak(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(f *fixture, p *plan.Plan)
		host  func(h *SandboxHost) Host
		want  string // in the error
		noErr bool   // the boot succeeds (the leak check still runs)
	}{
		{name: "success", noErr: true},
		{name: "missing command from args", want: `command "--password=$(DB_PASS)" not found in PATH=/usr/bin:/bin`,
			edit: func(f *fixture, p *plan.Plan) { p.Command.Argv = []string{"--password=$(DB_PASS)"} }},
		{name: "missing command with secret PATH", want: `not found in PATH=$(SM_JSON):/bin (expanded)`,
			edit: func(f *fixture, p *plan.Plan) {
				p.Env[0].Value = "$(SM_JSON):/bin"
				p.Command.Argv = []string{"app-$(DB_PASS)"}
			}},
		{name: "missing command with PATH from env-from", want: `command "nope" not found in PATH (from env-from)`,
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/path", `{"PATH":"/`+leakBad+`"}`)
				p.Env = p.Env[1:]
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/path"})
				p.Command.Argv = []string{"nope"}
			}},
		{name: "missing absolute command built from a secret", want: "command /opt/$(DIR)/app: No such file or directory",
			edit: func(f *fixture, p *plan.Plan) { p.Command.Argv = []string{"/opt/$(DIR)/app", "$(DB_PASS)"} }},
		{name: "program found through a secret, execve fails", want: "execve failed: /opt/$(DIR)/app: Exec format error",
			edit: func(f *fixture, p *plan.Plan) {
				f.file("/opt/"+leakDirSecret+"/app", 0o755, "")
				p.Command.Argv = []string{"/opt/$(DIR)/app", "--password=$(DB_PASS)"}
				p.Command.ReplaceInit = true
			},
			host: func(h *SandboxHost) Host { return execPathFailHost{h} }},
		{name: "command not executable", want: "command /bin/noexec: Permission denied",
			edit: func(f *fixture, p *plan.Plan) {
				f.file("/bin/noexec", 0o644, "")
				p.Command.Argv = []string{"/bin/noexec", "--password=$(DB_PASS)"}
			}},
		{name: "missing working dir", want: "working dir /srv/nowhere:",
			edit: func(f *fixture, p *plan.Plan) { p.Command.WorkingDir = "/srv/nowhere" }},
		{name: "invalid JSON: syntax error in a secret", want: "secrets-manager:sec/bad: invalid JSON",
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `{"A":"`+leakBad)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad"})
			}},
		{name: "invalid JSON: not JSON at all (s3)", want: "s3://sec/bad.json: invalid JSON",
			edit: func(f *fixture, p *plan.Plan) {
				f.object("sec", "bad.json", leakBad+` {"A":1}`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "s3", Bucket: "sec", Key: "bad.json"})
			}},
		{name: "invalid JSON: bad token after a key (ssm)", want: `ssm:/sec/bad: invalid JSON in member 1: syntax error at offset`,
			edit: func(f *fixture, p *plan.Plan) {
				f.param("/sec/bad", `{"A": `+leakBad+`}`, true)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "ssm", Path: "/sec/bad"})
			}},
		{name: "invalid JSON: a value where a key belongs", want: "secrets-manager:sec/bad: invalid JSON in member 2:",
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `{"A":"x","`+leakBad+`"}`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad"})
			}},
		{name: "invalid JSON: a base64 value where a key belongs", want: "secrets-manager:sec/bad: invalid JSON in member 2:",
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `{"A":"x","`+leakBad+`==", "B": 1}`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad"})
			}},
		// An array member is skipped (easyto does), by key, never quoting its content.
		{name: "JSON: array value skipped", noErr: true,
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `{"A":["`+leakBad+`"]}`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad"})
			}},
		{name: "invalid JSON: a string, not an object", want: "got a string",
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `"`+leakBad+`"`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad", Base64: true})
			}},
		{name: "invalid JSON: data after the object", want: "data after the object",
			edit: func(f *fixture, p *plan.Plan) {
				f.secret("sec/bad", `{"A":"x"} "`+leakBad+`"`)
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bad"})
			}},
		{name: "invalid JSON: binary secret without name", want: "invalid JSON",
			edit: func(f *fixture, p *plan.Plan) {
				f.secretBinary("sec/bin", append([]byte{0xff, 0xfe}, leakBad...))
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "secrets-manager", SecretID: "sec/bin"})
			}},
		{name: "missing source among fetched secrets", want: "ssm:/sec/none: ParameterNotFound",
			edit: func(f *fixture, p *plan.Plan) {
				p.EnvFrom = append(p.EnvFrom, plan.EnvFrom{Kind: "ssm", Path: "/sec/none", Name: "X"})
			}},
		{name: "template error with secret variables", want: "failed to render template to /etc/tmpl.conf: mustache:",
			edit: func(f *fixture, p *plan.Plan) { p.Volumes[3].Content = "{{#a}}{{a}}" }},
		{name: "template variables not a mapping", want: "InvalidVariableMapping",
			edit: func(f *fixture, p *plan.Plan) { p.Volumes[3].Variables = `["$(DB_PASS)"]` }},
		{name: "template write fails", want: "failed to render template to /etc/tmpl.conf:",
			edit: func(f *fixture, p *plan.Plan) {
				if err := os.MkdirAll(filepath.Join(f.host.Root, "etc/tmpl.conf/x"), 0o755); err != nil {
					f.t.Fatal(err)
				}
			}},
		{name: "optional template fails", noErr: true,
			edit: func(f *fixture, p *plan.Plan) { p.Volumes[3].Content = "{{/b}}"; p.Volumes[3].Optional = true }},
		{name: "secrets-manager volume write fails", want: "secrets-manager:sec/vol:",
			edit: func(f *fixture, p *plan.Plan) {
				if err := os.MkdirAll(filepath.Join(f.host.Root, "etc/smvol.key/x"), 0o755); err != nil {
					f.t.Fatal(err)
				}
			}},
		{name: "ssm volume under a file", want: "ssm:/secvol/tls/key:",
			edit: func(f *fixture, p *plan.Plan) { f.file("/etc/ssmvol/tls", 0o644, "") }},
		{name: "s3 volume under a file", want: "s3://sec/files/app.key:",
			edit: func(f *fixture, p *plan.Plan) { f.file("/etc/s3vol", 0o644, "") }},
		{name: "init script fails with secrets in its environment", want: "init script 0 failed: exited 3",
			edit: func(f *fixture, p *plan.Plan) {
				f.host.ExecRun = true
				p.InitScripts = []plan.InitScript{{Content: "#!/bin/sh\n[ -n \"$DB_PASS\" ] && exit 3\nexit 0\n"}}
			}},
		{name: "init script killed", want: "init script 0 failed: killed by SIGKILL",
			edit: func(f *fixture, p *plan.Plan) {
				f.host.ExecRun = true
				p.InitScripts = []plan.InitScript{{Content: "#!/bin/sh\nkill -9 $$\n"}}
			}},
		{name: "init script cannot run", want: "init script 0: unable to run:",
			edit: func(f *fixture, p *plan.Plan) {
				f.host.ExecRun = true
				p.InitScripts = []plan.InitScript{{Content: "#!/nonexistent/interpreter\n"}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{Extra: map[string]string{"tags/instance/secret": leakIMDS}})
			seedLeaks(f)
			p := leakPlan(f)
			if tt.edit != nil {
				tt.edit(f, p)
			}
			var host Host = f.host
			if tt.host != nil {
				host = tt.host(f.host)
			}
			rt := &Runtime{Plan: p, Host: host, IMDS: f.imds, AWS: NewAWS(f.imds)}
			_, err := Execute(f.ctx, rt)
			switch {
			case tt.noErr && err != nil:
				t.Fatalf("Execute: %v\n%s", err, f.logs.String())
			case !tt.noErr && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q\n%s", err, tt.want, f.logs.String())
			}
			if tt.noErr {
				// The secrets did arrive where they were asked to go.
				if got := envMap(rt.Env)["DB_PASS"]; got != leakSMNamed {
					t.Errorf("DB_PASS = %q", got)
				}
			} else {
				// What the boot's end shows: the banner with the error.
				console.PrintBanner(console.Failure{Stage: "stage2", Step: "command", Err: err})
			}
			f.noLeak(err, allLeaks()...)
		})
	}
}
