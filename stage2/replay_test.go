package stage2

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

const (
	secretDB     = "s3cr3t-db-pa$$word"
	secretAPIKey = "api-key-7f9a2c"
	secretSSM    = "ssm-secure-value-91"
	secretFile   = "LICENSE-KEY-0xDEADBEEF"
)

func TestReplayEnvFromAllKinds(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	f.bucket("cfg")
	f.object("cfg", "env/common.json", `{"REGION_NAME":"east","WORKERS":8,"RATIO":0.25,"BIG":12345678901234567890,"DEBUG":false}`)
	f.object("cfg", "tls/ca.pem", "-----BEGIN CERT-----\nabc\n")
	f.object("cfg", "plain.txt", "  padded value \n")
	f.param("/app/flags", `{"FLAG_A":"on","FLAG_B":true}`, false)
	f.param("/app/token", secretSSM, true)
	f.secret("app/db", secretDB)
	f.secret("app/keys", `{"API_KEY":"`+secretAPIKey+`"}`)

	p := f.basePlan()
	p.EnvFrom = []plan.EnvFrom{
		{Kind: "imds", Name: "LOCAL_IP", Path: "local-ipv4"},
		{Kind: "imds", Name: "ZONE", Path: "placement/availability-zone"},
		{Kind: "imds", Name: "NOPE", Path: "no/such/leaf", Optional: true},
		{Kind: "s3", Bucket: "cfg", Key: "env/common.json"},
		{Kind: "s3", Bucket: "cfg", Key: "tls/ca.pem", Name: "CA_PEM", Base64: true},
		{Kind: "s3", Bucket: "cfg", Key: "plain.txt", Name: " PLAIN "},
		{Kind: "s3", Bucket: "cfg", Key: "missing.json", Optional: true},
		{Kind: "s3", Bucket: "no-such-bucket", Key: "x", Optional: true},
		{Kind: "ssm", Path: "/app/flags"},
		{Kind: "ssm", Path: "/app/token", Name: "TOKEN"},
		{Kind: "ssm", Path: "/app/missing", Name: "X", Optional: true},
		{Kind: "secrets-manager", SecretID: "app/db", Name: "DB_PASSWORD"},
		{Kind: "secrets-manager", SecretID: "app/keys"},
		{Kind: "secrets-manager", SecretID: "app/missing", Optional: true},
	}
	p.Env = []plan.EnvVar{
		{Name: "DATABASE_URL", Value: "postgres://u:$(DB_PASSWORD)@db/x"},
		{Name: "LISTEN", Value: "$(LOCAL_IP):8443"},
		{Name: "LITERAL", Value: "$(LOCAL_IP)", Literal: true},
	}
	rt, cmd, err := f.run(p)
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	env := envMap(rt.Env)
	want := map[string]string{
		"LOCAL_IP":     imdsmock.DefaultLocalIPv4,
		"ZONE":         imdsmock.DefaultAZ,
		"REGION_NAME":  "east",
		"WORKERS":      "8",
		"RATIO":        "0.25",
		"BIG":          "12345678901234567890",
		"DEBUG":        "false",
		"CA_PEM":       base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERT-----\nabc\n")),
		"PLAIN":        "padded value",
		"FLAG_A":       "on",
		"FLAG_B":       "true",
		"TOKEN":        secretSSM,
		"DB_PASSWORD":  secretDB,
		"API_KEY":      secretAPIKey,
		"DATABASE_URL": "postgres://u:" + secretDB + "@db/x",
		"LISTEN":       imdsmock.DefaultLocalIPv4 + ":8443",
		"LITERAL":      "$(LOCAL_IP)",
		"PATH":         plan.DefaultPath,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"NOPE", "X"} {
		if _, ok := env[k]; ok {
			t.Errorf("optional missing source set %s", k)
		}
	}
	if cmd.Path != "/bin/app" || len(cmd.Env) != len(rt.Env) {
		t.Errorf("cmd = %+v", cmd)
	}
	logs := f.logs.String()
	for _, w := range []string{"step env-from-0: started", "step env: done in", "optional env-from[6] s3://cfg/missing.json not found, skipping: NoSuchKey", "optional env-from[10] ssm:/app/missing not found, skipping: ParameterNotFound", "optional env-from[13] secrets-manager:app/missing not found, skipping: ResourceNotFoundException"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
	rep, err := DecodeReport([]byte(f.read(plan.ReportPath)))
	if err != nil || rep.Result != "ok" {
		t.Fatalf("report: %+v %v", rep, err)
	}
	f.noLeak(nil, secretDB, secretAPIKey, secretSSM)
}

func TestReplayEnvFromFailures(t *testing.T) {
	tests := []struct {
		name string
		ef   plan.EnvFrom
		seed func(f *fixture)
		want string
	}{
		{"s3 missing key", plan.EnvFrom{Kind: "s3", Bucket: "cfg", Key: "nope.json"}, func(f *fixture) { f.bucket("cfg") }, "env-from[0] s3://cfg/nope.json: NoSuchKey"},
		{"ssm missing", plan.EnvFrom{Kind: "ssm", Path: "/nope", Name: "A"}, nil, "env-from[0] ssm:/nope: ParameterNotFound"},
		{"secret missing", plan.EnvFrom{Kind: "secrets-manager", SecretID: "nope"}, nil, "env-from[0] secrets-manager:nope: ResourceNotFoundException"},
		{"imds missing", plan.EnvFrom{Kind: "imds", Path: "nope", Name: "A"}, nil, "env-from[0] imds:nope: IMDS meta-data/nope: not found in instance metadata"},
		{"array", plan.EnvFrom{Kind: "s3", Bucket: "cfg", Key: "a.json"}, func(f *fixture) { f.bucket("cfg"); f.object("cfg", "a.json", `[1,2]`) }, "want an object of names to values (or set name), got an array"},
		{"null member", plan.EnvFrom{Kind: "ssm", Path: "/j"}, func(f *fixture) { f.param("/j", `{"A":"x","B":null}`, false) }, `env-from[0] ssm:/j: key "B": null is not allowed`},
		{"nested object", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, func(f *fixture) { f.secret("j", `{"A":{"x":1}}`) }, `key "A": an object is not allowed`},
		{"duplicate key", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, func(f *fixture) { f.secret("j", `{"A":"1","A":"`+secretDB+`"}`) }, `duplicate key "A"`},
		{"syntax", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, func(f *fixture) { f.secret("j", `{"A":"`+secretDB) }, "invalid JSON"},
		{"invalid even when optional", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j", Optional: true}, func(f *fixture) { f.secret("j", `not json `+secretDB) }, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{})
			if tt.seed != nil {
				tt.seed(f)
			}
			p := f.basePlan()
			p.EnvFrom = []plan.EnvFrom{tt.ef}
			_, _, err := f.run(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !strings.Contains(f.logs.String(), EnvFromFailure) {
				t.Errorf("logs lack %q:\n%s", EnvFromFailure, f.logs.String())
			}
			rep, _ := DecodeReport([]byte(f.read(plan.ReportPath)))
			st := map[string]string{}
			for _, s := range rep.Steps {
				st[s.Name] = s.Status
			}
			if st["env-from-0"] != graph.StatusFailed || st["command"] != graph.StatusNotRun {
				t.Errorf("report statuses: %v", st)
			}
			f.noLeak(err, secretDB)
		})
	}
}

func TestReplayOptionalWithoutInstanceProfile(t *testing.T) {
	f := newFixture(t, imdsmock.Config{NoRole: true})
	p := f.basePlan()
	p.EnvFrom = []plan.EnvFrom{{Kind: "s3", Bucket: "b", Key: "k", Optional: true}, {Kind: "ssm", Path: "/x", Name: "X", Optional: true}}
	if _, _, err := f.run(p); err != nil {
		t.Fatalf("optional source without an instance profile failed the boot: %v", err)
	}
	if !strings.Contains(f.logs.String(), "no AWS credentials") {
		t.Errorf("logs:\n%s", f.logs.String())
	}
	// And not optional: an error that says so.
	f2 := newFixture(t, imdsmock.Config{NoRole: true})
	p2 := f2.basePlan()
	p2.EnvFrom = []plan.EnvFrom{{Kind: "ssm", Path: "/x", Name: "X"}}
	_, _, err := f2.run(p2)
	if err == nil || !strings.Contains(err.Error(), "IAM instance profile") {
		t.Fatalf("err = %v", err)
	}
}

func TestReplayFileVolumes(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	f.bucket("site")
	f.object("site", "static/index.html", "<h1>hi</h1>")
	f.object("site", "static/css/app.css", "body{}")
	f.object("site", "static/css/deep/x/y.txt", "deep")
	f.object("site", "static/emptydir/", "")
	f.object("site", "other/ignored", "no")
	f.param("/app/certs/ca", "CA", false)
	f.param("/app/certs/tls/key", secretSSM, true)
	f.param("/app/single", "one", false)
	f.param("relative-name", "rel", false)
	f.secret("lic", secretFile)
	f.secretBinary("bin", []byte{0, 1, 2, 0xff})
	f.secret("tmplsecret", secretDB)

	p := f.basePlan()
	p.Command.UID, p.Command.GID = 1000, 1000
	p.EnvFrom = []plan.EnvFrom{{Kind: "secrets-manager", SecretID: "tmplsecret", Name: "DBPW"}}
	p.Env = []plan.EnvVar{{Name: "GREETING", Value: "hello & <bye>"}}
	p.Volumes = []plan.Volume{
		{Kind: "s3", Bucket: "site", KeyPrefix: "static/", Destination: "/srv/www", Mode: 0o644},
		{Kind: "ssm", Path: "/app/certs", Destination: "/etc/app/certs", UID: 1000, GID: 1000, Mode: 0o600},
		{Kind: "ssm", Path: "/app/single", Destination: "/etc/app/single.txt", Mode: 0o600},
		{Kind: "ssm", Path: "relative-name", Destination: "/etc/app/rel.txt", Mode: 0o600},
		{Kind: "secrets-manager", SecretID: "lic", Destination: "/etc/app/license.key", UID: 1000, GID: 1000, Mode: 0o600},
		{Kind: "secrets-manager", SecretID: "bin", Destination: "/etc/app/bin.dat", Mode: 0o600},
		{Kind: "template", Destination: "/etc/app/config.toml", Mode: 0o640,
			Content:   "greet = \"{{greeting}}\"\nraw = \"{{{greeting}}}\"\npw = \"{{pw}}\"\n{{#peers}}\npeer = \"{{address}}\"\n{{/peers}}\n{{#enabled}}on{{/enabled}}{{^missing}} none{{/missing}}\n",
			Variables: `{"greeting":"$(GREETING)","pw":"$(DBPW)","peers":[{"address":"10.0.0.1"},{"address":"10.0.0.2"}],"enabled":true,"n":1.5}`},
		{Kind: "template", Destination: "/etc/app/literal.txt", Mode: 0o644, Content: "{{not rendered}} $(GREETING)\n"},
		{Kind: "s3", Bucket: "site", KeyPrefix: "nothing-here/", Destination: "/srv/opt", Optional: true, Mode: 0o644},
		{Kind: "ssm", Path: "/nothing", Destination: "/srv/opt2", Optional: true, Mode: 0o600},
	}
	_, _, err := f.run(p)
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	checks := map[string]string{
		"/srv/www/index.html":       "<h1>hi</h1>",
		"/srv/www/css/app.css":      "body{}",
		"/srv/www/css/deep/x/y.txt": "deep",
		"/etc/app/certs/ca":         "CA",
		"/etc/app/certs/tls/key":    secretSSM,
		"/etc/app/single.txt":       "one",
		"/etc/app/rel.txt":          "rel",
		"/etc/app/license.key":      secretFile,
		"/etc/app/bin.dat":          "\x00\x01\x02\xff",
		"/etc/app/literal.txt":      "{{not rendered}} $(GREETING)\n",
		"/etc/app/config.toml":      "greet = \"hello &amp; &lt;bye&gt;\"\nraw = \"hello & <bye>\"\npw = \"" + secretDB + "\"\npeer = \"10.0.0.1\"\npeer = \"10.0.0.2\"\non none\n",
	}
	for p, want := range checks {
		if got := f.read(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(f.host.Root, "srv/www/emptydir")); err == nil {
		t.Error("a key ending in / became a file or directory")
	}
	if _, err := os.Stat(filepath.Join(f.host.Root, "srv/www/ignored")); err == nil {
		t.Error("a key outside the prefix was written")
	}
	modes := map[string]os.FileMode{"/etc/app/license.key": 0o600, "/etc/app/certs/tls/key": 0o600, "/srv/www/index.html": 0o644, "/etc/app/config.toml": 0o640, "/etc/app/certs/tls": 0o755}
	for p, m := range modes {
		if got := f.mode(p); got != m {
			t.Errorf("mode %s = %o, want %o", p, got, m)
		}
	}
	j := f.journal()
	for _, w := range []string{
		"write    /etc/app/license.key (0600, 1000:1000,",
		"chown    /etc/app/certs 1000:1000",
		"chown    /etc/app/certs/tls 1000:1000",
		"write    /etc/app/certs/tls/key (0600, 1000:1000,",
	} {
		if !strings.Contains(j, w) {
			t.Errorf("journal lacks %q:\n%s", w, j)
		}
	}
	// Only directories created are chowned: /etc existed? No — but /etc/app was created by an
	// earlier volume as root; the certs volume must not chown it.
	if strings.Contains(j, "chown    /etc/app 1000") || strings.Contains(j, "chown    /etc 1000") {
		t.Errorf("chowned a directory it did not create:\n%s", j)
	}
	logs := f.logs.String()
	for _, w := range []string{"optional S3 volume s3://site/nothing-here/ at /srv/opt failed, skipping: no S3 objects found at s3://site/nothing-here/", "optional SSM volume /nothing at /srv/opt2 failed, skipping:", "template volume rendered to /etc/app/config.toml"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
	f.noLeak(nil, secretDB, secretSSM, secretFile)
}

func TestReplayVolumeFailures(t *testing.T) {
	tests := []struct {
		name string
		v    plan.Volume
		seed func(f *fixture)
		want string
	}{
		{"s3 empty", plan.Volume{Kind: "s3", Bucket: "bkt", KeyPrefix: "p/", Destination: "/d", Mode: 0o644}, func(f *fixture) { f.bucket("bkt") }, "no S3 objects found at s3://bkt/p/"},
		{"ssm missing", plan.Volume{Kind: "ssm", Path: "/nope", Destination: "/d", Mode: 0o600}, nil, "SSM GetParameter failed for /nope: ParameterNotFound"},
		{"secret missing", plan.Volume{Kind: "secrets-manager", SecretID: "nope", Destination: "/d", Mode: 0o600}, nil, "ResourceNotFoundException"},
		{"template unclosed section", plan.Volume{Kind: "template", Destination: "/etc/t", Content: "{{#a}}x", Variables: `{"a":true}`, Mode: 0o644}, nil, "failed to render template to /etc/t:"},
		{"template variables not a mapping", plan.Volume{Kind: "template", Destination: "/etc/t", Content: "x", Variables: `[1]`, Mode: 0o644}, nil, "failed to render template to /etc/t: InvalidVariableMapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{})
			if tt.seed != nil {
				tt.seed(f)
			}
			p := f.basePlan()
			p.Volumes = []plan.Volume{tt.v}
			_, _, err := f.run(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.want, f.logs.String())
			}
		})
	}
}

func TestReplayPathEscapeRefused(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	outside := filepath.Join(f.root, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	f.bucket("bkt")
	f.object("bkt", "p/ok.txt", "ok")
	f.object("bkt", "p/../../../outside/evil", "evil")

	p := f.basePlan()
	p.Volumes = []plan.Volume{{Kind: "s3", Bucket: "bkt", KeyPrefix: "p/", Destination: "/srv/x", Mode: 0o644}}
	_, _, err := f.run(p)
	if err == nil || !strings.Contains(err.Error(), "would escape the destination") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.host.Root, "srv/x/ok.txt")); err == nil {
		t.Error("files were written although one key escapes")
	}

	// A symlink in the way, inside the root, pointing out of the destination.
	f2 := newFixture(t, imdsmock.Config{})
	f2.secret("s", secretFile)
	if err := os.MkdirAll(filepath.Join(f2.host.Root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(f2.host.Root, "etc/app")); err != nil {
		t.Fatal(err)
	}
	p2 := f2.basePlan()
	p2.Volumes = []plan.Volume{{Kind: "secrets-manager", SecretID: "s", Destination: "/etc/app/key", Mode: 0o600}}
	_, _, err = f2.run(p2)
	// The sandbox root (os.Root) refuses to follow the link out of it; the error names the step,
	// the source and the path.
	if err == nil || err.Error() != "step volume-0: secrets-manager:s: lstat /etc/app/key: path escapes from parent" {
		t.Fatalf("write through a symlink: err = %v", err)
	}
	// A symlink at the destination itself.
	f3 := newFixture(t, imdsmock.Config{})
	f3.secret("s", secretFile)
	f3.file("/etc/real", 0o600, "x")
	if err := os.Symlink("real", filepath.Join(f3.host.Root, "etc/key")); err != nil {
		t.Fatal(err)
	}
	p3 := f3.basePlan()
	p3.Volumes = []plan.Volume{{Kind: "secrets-manager", SecretID: "s", Destination: "/etc/key", Mode: 0o600}}
	_, _, err = f3.run(p3)
	if err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("err = %v", err)
	}
	// Nothing outside any sandbox root.
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Fatalf("written outside the root: %v", ents)
	}
	f2.noLeak(err, secretFile)
}

func TestReplayInitScripts(t *testing.T) {
	tests := []struct {
		name    string
		scripts []string
		want    string
	}{
		{"ok then env only", []string{"#!/bin/sh\n[ \"$ONLY\" = yes ] && [ -z \"$HOME\" ] && pwd > ./cwd\n"}, ""},
		{"exit 3", []string{"#!/bin/sh\nexit 0\n", "#!/bin/sh\nexit 3\n"}, "init script 1 failed: exited 3"},
		{"killed", []string{"#!/bin/sh\nkill -9 $$\n"}, "init script 0 failed: killed by SIGKILL"},
		{"cannot exec", []string{"#!/nonexistent/interpreter\n"}, "init script 0: unable to run: No such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{})
			f.host.ExecRun = true
			p := f.basePlan()
			p.Env = []plan.EnvVar{{Name: "ONLY", Value: "yes"}}
			for _, s := range tt.scripts {
				p.InitScripts = append(p.InitScripts, plan.InitScript{Content: s})
			}
			_, _, err := f.run(p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Execute: %v\n%s", err, f.logs.String())
				}
				if got := strings.TrimSpace(f.read("/cwd")); got != f.host.Root {
					t.Errorf("cwd = %q, want the sandbox root", got)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.name == "cannot exec" && !strings.Contains(f.logs.String(), "unable to run init script 0: No such file or directory") {
				t.Errorf("logs:\n%s", f.logs.String())
			}
			if _, err := os.Stat(filepath.Join(f.host.Root, ".easyto/run/init-0")); err == nil {
				t.Error("init script file left behind")
			}
			if !strings.Contains(f.journal(), "run      init-script-0: /.easyto/run/init-0") {
				t.Errorf("journal:\n%s", f.journal())
			}
		})
	}
}

func TestReplayCommandPath(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		path string
		want string
		err  string
	}{
		{"PATH order, empty and directory entries skipped", []string{"tool", "$(A)", "$$(A)"}, "/opt/dir::/opt/noexec:/opt/bin:/usr/bin", "/opt/bin/tool", ""},
		{"absolute", []string{"/opt/bin/tool"}, "", "/opt/bin/tool", ""},
		{"not found", []string{"nope"}, "/opt/bin:/usr/bin", "", `command "nope" not found in PATH=/opt/bin:/usr/bin`},
		{"absolute missing", []string{"/usr/local/bin/ledger"}, "", "", "No such file or directory"},
		{"from init script", []string{"made-by-script"}, "/opt/bin", "/opt/bin/made-by-script", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{})
			f.host.ExecRun = true
			f.file("/opt/bin/tool", 0o755, "")
			f.file("/opt/noexec/tool", 0o644, "")
			if err := os.MkdirAll(filepath.Join(f.host.Root, "opt/dir/tool"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := f.basePlan()
			p.Command.Argv = tt.argv
			p.Env = []plan.EnvVar{{Name: "A", Value: "x y"}}
			if tt.path != "" {
				p.Env = append(p.Env, plan.EnvVar{Name: "PATH", Value: tt.path})
			}
			if tt.name == "from init script" {
				p.InitScripts = []plan.InitScript{{Content: "#!/bin/sh\nPATH=/usr/bin:/bin\nmkdir -p opt/bin && printf '' > opt/bin/made-by-script && chmod 755 opt/bin/made-by-script\n"}}
			}
			_, cmd, err := f.run(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Execute: %v\n%s", err, f.logs.String())
			}
			if cmd.Path != tt.want || cmd.Args[0] != tt.want {
				t.Errorf("cmd = %q %q, want %q", cmd.Path, cmd.Args, tt.want)
			}
			if tt.name == "PATH order, empty and directory entries skipped" && (cmd.Args[1] != "x y" || cmd.Args[2] != "$(A)") {
				t.Errorf("args = %q", cmd.Args)
			}
		})
	}
}

// The command's argv may reference secrets ($(DB_PASSWORD)): the process gets the expanded
// value, but the console, the journal and the report only ever show the unexpanded form.
func TestReplayCommandArgvSecretNotShown(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	f.secret("app/db", secretDB)
	p := f.basePlan()
	p.EnvFrom = []plan.EnvFrom{{Kind: "secrets-manager", SecretID: "app/db", Name: "DB_PASSWORD"}}
	p.Command.Argv = []string{"app", "--db-password=$(DB_PASSWORD)"}
	p.Command.ReplaceInit = true
	p.Env = []plan.EnvVar{{Name: "PATH", Value: "/bin"}}
	_, cmd, err := f.run(p)
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	if want := []string{"/bin/app", "--db-password=" + secretDB}; strings.Join(cmd.Args, " ") != strings.Join(want, " ") {
		t.Fatalf("args = %q, want %q", cmd.Args, want)
	}
	if j := f.journal(); !strings.Contains(j, "/bin/app --db-password=$(DB_PASSWORD)") {
		t.Errorf("journal lacks the unexpanded command line:\n%s", j)
	}
	f.noLeak(nil, secretDB)
}
