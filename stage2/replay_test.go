package stage2

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		{"duplicate key", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, func(f *fixture) { f.secret("j", `{"A":"1","A":"`+secretDB+`"}`) }, `duplicate key "A"`},
		{"syntax", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, func(f *fixture) { f.secret("j", `{"A":"`+secretDB) }, "invalid JSON"},
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

// awsErrorServer answers every AWS request with the given error: S3 as XML with HTTP 403,
// SSM and Secrets Manager (JSON protocol) with HTTP 400. For errors moto cannot produce.
func awsErrorServer(t *testing.T, code, message string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("X-Amzn-Errortype", code)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, message)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, message)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReplayOptionalAnyFailure: optional: true skips a source whatever its failure — not
// found, access denied, a value that is not the JSON it should be, no region, no credentials —
// with one info line and the step "skipped"; the same source without optional fails the boot
// with easyto's line. Each kind is run both ways, so "optional skips only some errors" and
// "any error is skippable even without optional" both fail here.
func TestReplayOptionalAnyFailure(t *testing.T) {
	type setup struct {
		imds     imdsmock.Config
		endpoint func(t *testing.T) string // "" → moto
		seed     func(f *fixture)
	}
	tests := []struct {
		name  string
		ef    plan.EnvFrom
		setup setup
		info  string // the optional info line
		err   string // the error without optional
	}{
		{"imds not found", plan.EnvFrom{Kind: "imds", Path: "no/such", Name: "A"}, setup{},
			"optional env-from[0] imds:no/such not found, skipping:", "env-from[0] imds:no/such: IMDS meta-data/no/such: not found"},
		{"s3 not found", plan.EnvFrom{Kind: "s3", Bucket: "cfg", Key: "nope"}, setup{seed: func(f *fixture) { f.bucket("cfg") }},
			"optional env-from[0] s3://cfg/nope not found, skipping: NoSuchKey", "env-from[0] s3://cfg/nope: NoSuchKey"},
		{"ssm not found", plan.EnvFrom{Kind: "ssm", Path: "/nope", Name: "A"}, setup{},
			"optional env-from[0] ssm:/nope not found, skipping: ParameterNotFound", "env-from[0] ssm:/nope: ParameterNotFound"},
		{"ssm access denied", plan.EnvFrom{Kind: "ssm", Path: "/app/x", Name: "A"}, setup{endpoint: func(t *testing.T) string {
			return awsErrorServer(t, "AccessDeniedException", "User is not authorized to perform ssm:GetParameter")
		}}, "optional env-from[0] ssm:/app/x failed, skipping: AccessDeniedException: User is not authorized", "env-from[0] ssm:/app/x: AccessDeniedException"},
		{"secrets-manager access denied", plan.EnvFrom{Kind: "secrets-manager", SecretID: "app/db"}, setup{endpoint: func(t *testing.T) string {
			return awsErrorServer(t, "AccessDeniedException", "not authorized")
		}}, "optional env-from[0] secrets-manager:app/db failed, skipping: AccessDeniedException", "env-from[0] secrets-manager:app/db: AccessDeniedException"},
		{"s3 access denied", plan.EnvFrom{Kind: "s3", Bucket: "cfg", Key: "k", Name: "A"}, setup{endpoint: func(t *testing.T) string {
			return awsErrorServer(t, "AccessDenied", "Access Denied")
		}}, "optional env-from[0] s3://cfg/k not found, skipping: AccessDenied", "env-from[0] s3://cfg/k: AccessDenied"},
		{"invalid JSON", plan.EnvFrom{Kind: "secrets-manager", SecretID: "j"}, setup{seed: func(f *fixture) { f.secret("j", `not json `+secretDB) }},
			"optional env-from[0] secrets-manager:j failed, skipping: invalid JSON", "env-from[0] secrets-manager:j: invalid JSON"},
		{"JSON not an object", plan.EnvFrom{Kind: "s3", Bucket: "cfg", Key: "a.json"}, setup{seed: func(f *fixture) { f.bucket("cfg"); f.object("cfg", "a.json", `[1,2]`) }},
			"optional env-from[0] s3://cfg/a.json failed, skipping: invalid JSON: want an object", "got an array"},
		{"JSON duplicate key", plan.EnvFrom{Kind: "ssm", Path: "/j"}, setup{seed: func(f *fixture) { f.param("/j", `{"A":"1","A":"2"}`, false) }},
			`optional env-from[0] ssm:/j failed, skipping: invalid JSON: duplicate key "A"`, `duplicate key "A"`},
		{"no region", plan.EnvFrom{Kind: "ssm", Path: "/x", Name: "X"}, setup{imds: imdsmock.Config{Extra: map[string]string{"placement/region": ""}}},
			"optional env-from[0] ssm:/x not found, skipping:", "AWS_REGION is not set"},
		{"no credentials", plan.EnvFrom{Kind: "secrets-manager", SecretID: "s", Name: "S"}, setup{imds: imdsmock.Config{NoRole: true}},
			"optional env-from[0] secrets-manager:s not found, skipping:", "IAM instance profile"},
	}
	for _, tt := range tests {
		for _, optional := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/optional=%v", tt.name, optional), func(t *testing.T) {
				var f *fixture
				if tt.setup.endpoint != nil {
					f = newFixtureWith(t, tt.setup.imds, tt.setup.endpoint(t))
				} else {
					f = newFixture(t, tt.setup.imds)
				}
				if tt.setup.seed != nil {
					tt.setup.seed(f)
				}
				p := f.basePlan()
				ef := tt.ef
				ef.Optional = optional
				p.EnvFrom = []plan.EnvFrom{ef}
				_, _, err := f.run(p)
				logs := f.logs.String()
				rep, _ := DecodeReport([]byte(f.read(plan.ReportPath)))
				st := map[string]string{}
				for _, s := range rep.Steps {
					st[s.Name] = s.Status
				}
				if optional {
					if err != nil {
						t.Fatalf("optional source failed the boot: %v\n%s", err, logs)
					}
					if strings.Count(logs, "optional env-from[0]") != 1 || !strings.Contains(logs, tt.info) {
						t.Errorf("want one line %q in:\n%s", tt.info, logs)
					}
					if strings.Contains(logs, EnvFromFailure) || st["env-from-0"] != graph.StatusSkipped {
						t.Errorf("step env-from-0 %q, logs:\n%s", st["env-from-0"], logs)
					}
				} else {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("err = %v, want %q", err, tt.err)
					}
					if !strings.Contains(logs, EnvFromFailure) || strings.Contains(logs, "skipping") || st["env-from-0"] != graph.StatusFailed {
						t.Errorf("step env-from-0 %q, logs:\n%s", st["env-from-0"], logs)
					}
				}
				f.noLeak(err, secretDB)
			})
		}
	}
}

// TestReplayEnvCompat compiles easyto-style user data with an image config and replays it: the
// runtime meaning of the environment as easyto gives it. A value from env-from overrides the
// image's Env and a user env placeholder in place; $(VAR) sees later entries and env-from
// values (one pass, unexpanded); the image's Env and fetched values stay literal; JSON members
// that are null, arrays or objects are skipped with one line; base64-encode applies with name
// and is ignored (warning) without; an optional source that fails is skipped.
func TestReplayEnvCompat(t *testing.T) {
	metadata := `{"config":{"Entrypoint":["/bin/app"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin","INSTANCE_ID=from-image","DB_PASS=image-default","HOME=/home/app","KEEP=$$literal$(HOME)"]}}`
	userData := `
env:
  - name: DATABASE_URL
    value: postgres://app:$(DB_PASS)@$(DB_HOST):$(DB_PORT)/ledger
  - name: DB_HOST
    value: db.internal
  - name: API_KEY
    value: placeholder
  - name: GREETING
    value: hello-$(INSTANCE_ID)-$(HOME)
  - name: CHAIN
    value: $(DATABASE_URL)
  - name: ESCAPED
    value: $$(DB_HOST)
env-from:
  - imds:
      name: INSTANCE_ID
      path: instance-id
  - secrets-manager:
      secret-id: app/db
      name: DB_PASS
  - ssm:
      path: /app/json
  - s3:
      bucket: cfg
      key: ca.pem
      name: CA_PEM
      base64-encode: true
  - s3:
      bucket: cfg
      key: plain.json
      base64-encode: true
  - ssm:
      path: /app/not-json
      optional: true
args: ["$(GREETING)", "$(API_KEY)"]
`
	p, diags, err := plan.Compile(plan.Inputs{RawUserData: []byte(userData), Metadata: []byte(metadata), Now: time.Unix(0, 0), Version: "test", SkipUserLookup: true})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, diags)
	}
	f := newFixture(t, imdsmock.Config{})
	f.secret("app/db", secretDB)
	f.param("/app/json", `{"API_KEY":"`+secretAPIKey+`","DB_PORT":5432,"NULLED":null,"LIST":[1,"x"],"OBJ":{"a":{"b":null}},"TLS":true}`, true)
	f.param("/app/not-json", "plain text", false)
	f.bucket("cfg")
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	f.object("cfg", "ca.pem", pem)
	f.object("cfg", "plain.json", `{"PLAIN":"as-is"}`)
	f.file("/bin/app", 0o755, "#!/bin/sh\n")
	rt, cmd, err := f.run(p)
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	env := envMap(rt.Env)
	want := map[string]string{
		"INSTANCE_ID":  imdsmock.DefaultInstanceID,                                // env-from over the image
		"DB_PASS":      secretDB,                                                  // env-from over the image, "$$" kept
		"API_KEY":      secretAPIKey,                                              // env-from over user env
		"DATABASE_URL": "postgres://app:" + secretDB + "@db.internal:5432/ledger", // later entry and env-from values
		"GREETING":     "hello-" + imdsmock.DefaultInstanceID + "-/home/app",      // env-from and image values
		"CHAIN":        "postgres://app:$(DB_PASS)@$(DB_HOST):$(DB_PORT)/ledger",  // one pass: unexpanded value
		"ESCAPED":      "$(DB_HOST)",                                              // $$ in user env
		"KEEP":         "$$literal$(HOME)",                                        // image Env literal
		"DB_PORT":      "5432",                                                    // JSON number as written
		"TLS":          "true",                                                    // JSON bool
		"CA_PEM":       base64.StdEncoding.EncodeToString([]byte(pem)),            // base64 with name
		"PLAIN":        "as-is",                                                   // base64 without name ignored
		"PATH":         "/usr/local/bin:/usr/bin:/bin",                            // the image's PATH
		"HOME":         "/home/app",
		"DB_HOST":      "db.internal",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"NULLED", "LIST", "OBJ"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s set from a JSON %s", k, "null, array or object")
		}
	}
	// The image's order, then user data's new names, then new env-from names; one per name.
	var names []string
	for _, e := range rt.Env {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "PATH,INSTANCE_ID,DB_PASS,HOME,KEEP,DATABASE_URL,DB_HOST,API_KEY,GREETING,CHAIN,ESCAPED,DB_PORT,TLS,CA_PEM,PLAIN" {
		t.Errorf("order %s", got)
	}
	if want := []string{"/bin/app", "hello-" + imdsmock.DefaultInstanceID + "-/home/app", secretAPIKey}; strings.Join(cmd.Args, "|") != strings.Join(want, "|") {
		t.Errorf("argv %q, want %q", cmd.Args, want)
	}
	logs := f.logs.String()
	for _, w := range []string{
		`env-from[2] ssm:/app/json: skipped keys "NULLED", "LIST", "OBJ" (null, array or object: not a variable value)`,
		"optional env-from[5] ssm:/app/not-json failed, skipping: invalid JSON",
	} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
	// Compile warns and clears base64_encode; stage two would warn too for a plan made by hand.
	if !strings.Contains(strings.Join(p.Source.Warnings, "\n"), "env-from[4].s3.base64-encode: applies only to a value fetched with name; ignored") {
		t.Errorf("compile warnings %q", p.Source.Warnings)
	}
	vars, err := rt.FetchEnvFrom(f.ctx, 9, plan.EnvFrom{Kind: plan.KindS3, Bucket: "cfg", Key: "plain.json", Base64: true})
	if err != nil || len(vars) != 1 || vars[0].Value != "as-is" || !strings.Contains(f.logs.String(), "warning: env-from[9] s3://cfg/plain.json: base64-encode applies only to a value fetched with name; ignored") {
		t.Errorf("base64 without name in a plan: %v %v\n%s", vars, err, f.logs.String())
	}
	f.noLeak(nil, secretDB, secretAPIKey)
}

// TestReplayEasytoCompatCorpus replays user data of the compatibility corpus
// (plan/testdata/easyto-compat: written as easyto's README documents it) against moto and the
// mock IMDS: the run-time meaning the golden plans cannot show.
func TestReplayEasytoCompatCorpus(t *testing.T) {
	compile := func(t *testing.T, name string) *plan.Plan {
		t.Helper()
		dir := filepath.Join("..", "plan", "testdata", "easyto-compat", name)
		read := func(f string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		p, diags, err := plan.Compile(plan.Inputs{RawUserData: read("user-data.yaml"), Metadata: read("metadata.json"),
			Passwd: read("passwd"), Group: read("group"), Now: time.Unix(0, 0), Version: "test"})
		if err != nil {
			t.Fatalf("compile %s: %v\n%s", name, err, diags)
		}
		return p
	}
	check := func(t *testing.T, env []plan.EnvVar, want map[string]string) {
		t.Helper()
		got := envMap(env)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	}

	t.Run("readme-variable-expansion", func(t *testing.T) {
		p := compile(t, "readme-variable-expansion")
		f := newFixture(t, imdsmock.Config{})
		f.param("/app/db-user", "dbuser", false)
		f.secret("app/db", secretDB)
		f.file("/usr/local/bin/app", 0o755, "#!/bin/sh\n")
		f.file(p.Command.WorkingDir+"/.keep", 0o644, "") // the image's working directory
		rt, cmd, err := f.run(p)
		if err != nil {
			t.Fatalf("Execute: %v\n%s", err, f.logs.String())
		}
		url := "postgresql://dbuser:" + secretDB + "@db.internal:5432/app"
		check(t, rt.Env, map[string]string{
			"DATABASE_URL": url, // env-from values and a later entry
			"APP_NAME":     "app-db.internal",
			"ESCAPED":      "$(DB_HOST)",
			"LOG_LEVEL":    "warn", // the image's Env
			"PATH":         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		})
		if want := []string{"/usr/local/bin/app", "--db=" + url, "--name=app-db.internal", "--literal=$(NOT_EXPANDED)"}; strings.Join(cmd.Args, "|") != strings.Join(want, "|") {
			t.Errorf("argv %q, want %q", cmd.Args, want)
		}
		if cmd.UID != 1000 || cmd.Dir != "/srv/app" {
			t.Errorf("uid %d dir %s", cmd.UID, cmd.Dir)
		}
		f.noLeak(nil, secretDB)
	})

	t.Run("readme-env-from", func(t *testing.T) {
		p := compile(t, "readme-env-from")
		f := newFixture(t, imdsmock.Config{})
		f.bucket("app-config")
		f.object("app-config", "env/common.json", `{"REGION_LABEL":"eu","WORKERS":4,"EXTRA":null,"HOSTS":["a","b"]}`)
		pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
		f.object("app-config", "tls/ca.pem", pem)
		f.param("/app/prod/api-token", secretSSM, true)
		f.secret("app/prod/db", secretDB)
		f.secret("app/prod/license", secretFile)
		// Absent on purpose, both optional: /app/prod/flags and the shared secret by ARN.
		f.file("/usr/local/bin/app", 0o755, "#!/bin/sh\n")
		f.file(p.Command.WorkingDir+"/.keep", 0o644, "") // the image's working directory
		rt, _, err := f.run(p)
		if err != nil {
			t.Fatalf("Execute: %v\n%s", err, f.logs.String())
		}
		check(t, rt.Env, map[string]string{
			"INSTANCE_ID":  imdsmock.DefaultInstanceID,
			"AZ":           imdsmock.DefaultAZ, // leading slash of the path dropped
			"REGION_LABEL": "eu",
			"WORKERS":      "4",
			"CA_PEM":       base64.StdEncoding.EncodeToString([]byte(pem)),
			"API_TOKEN":    secretSSM,
			"DB_PASSWORD":  secretDB,
			"LICENSE":      secretFile,
			"LOCAL_IP":     imdsmock.DefaultLocalIPv4,
		})
		env := envMap(rt.Env)
		for _, k := range []string{"EXTRA", "HOSTS"} {
			if _, ok := env[k]; ok {
				t.Errorf("%s set from a JSON null or array", k)
			}
		}
		logs := f.logs.String()
		for _, w := range []string{`env-from[2] s3://app-config/env/common.json: skipped keys "EXTRA", "HOSTS"`,
			"optional env-from[4] ssm:/app/prod/flags not found, skipping: ParameterNotFound",
			"optional env-from[7] secrets-manager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared-abc123"} {
			if !strings.Contains(logs, w) {
				t.Errorf("logs lack %q:\n%s", w, logs)
			}
		}
		f.noLeak(nil, secretDB, secretSSM, secretFile)
	})
}
