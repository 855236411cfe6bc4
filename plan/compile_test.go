package plan

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testImage = `{"config":{"Entrypoint":["/entry"],"Cmd":["cmd"],"Env":["A=image","B=image"],"WorkingDir":"/img","User":"app"}}`
const testPasswd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nother:x:2000:2001::/:/bin/sh\n"
const testGroup = "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nstaff:x:50:\ndocker:x:999:other\n"

func compileUD(t *testing.T, ud string) *Plan {
	t.Helper()
	p, diags, err := Compile(Inputs{RawUserData: []byte(ud), Metadata: []byte(testImage), Passwd: []byte(testPasswd), Group: []byte(testGroup), Now: goldenNow})
	if err != nil {
		t.Fatalf("compile %q: %v\n%s", ud, err, diags)
	}
	return p
}

func TestMergeRules(t *testing.T) {
	for _, tc := range []struct {
		name, ud string
		check    func(p *Plan) any
		want     any
	}{
		{"no user data: image argv", "", func(p *Plan) any { return p.Command.Argv }, []string{"/entry", "cmd"}},
		{"args replace cmd", "args: [x]", func(p *Plan) any { return p.Command.Argv }, []string{"/entry", "x"}},
		{"empty args drop cmd", "args: []", func(p *Plan) any { return p.Command.Argv }, []string{"/entry"}},
		{"command drops cmd", "command: [/c]", func(p *Plan) any { return p.Command.Argv }, []string{"/c"}},
		{"command + args", "command: [/c]\nargs: [y]", func(p *Plan) any { return p.Command.Argv }, []string{"/c", "y"}},
		{"null command keeps image", "command: ~", func(p *Plan) any { return p.Command.Argv }, []string{"/entry", "cmd"}},
		{"empty command: args alone", "command: []\nargs: [/prog]", func(p *Plan) any { return p.Command.Argv }, []string{"/prog"}},
		{"absent working-dir keeps image", "debug: true", func(p *Plan) any { return p.Command.WorkingDir }, "/img"},
		{"null working-dir keeps image", "working-dir: null", func(p *Plan) any { return p.Command.WorkingDir }, "/img"},
		{"working-dir set", "working-dir: /w", func(p *Plan) any { return p.Command.WorkingDir }, "/w"},
		{"grace default", "debug: true", func(p *Plan) any { return p.Command.ShutdownGrace }, 10},
		{"grace null", "shutdown-grace-period:", func(p *Plan) any { return p.Command.ShutdownGrace }, 10},
		{"grace 0", "shutdown-grace-period: 0", func(p *Plan) any { return p.Command.ShutdownGrace }, 0},
		{"grace string", `shutdown-grace-period: "15"`, func(p *Plan) any { return p.Command.ShutdownGrace }, 15},
		{"debug false", "debug: false", func(p *Plan) any { return p.Debug }, false},
		{"debug string", `debug: "True"`, func(p *Plan) any { return p.Debug }, true},
		{"replace-init", "replace-init: true", func(p *Plan) any { return p.Command.ReplaceInit }, true},
		{"image user", "", func(p *Plan) any { return []uint32{p.Command.UID, p.Command.GID} }, []uint32{1000, 1001}},
		{"image user groups", "", func(p *Plan) any { return p.Command.Groups }, []uint32{10}},
		{"run-as-user-id uses its passwd entry", "security: {run-as-user-id: 2000}", func(p *Plan) any {
			return []any{p.Command.UID, p.Command.GID, p.Command.Groups}
		}, []any{uint32(2000), uint32(2001), []uint32{10, 999}}},
		{"run-as-user-id not in passwd", "security: {run-as-user-id: 7}", func(p *Plan) any {
			return []any{p.Command.UID, p.Command.GID, p.Command.Groups}
		}, []any{uint32(7), uint32(0), []uint32(nil)}},
		{"run-as-group-id only", "security: {run-as-group-id: 5}", func(p *Plan) any { return []uint32{p.Command.UID, p.Command.GID} }, []uint32{1000, 5}},
		{"readonly root", "security: {readonly-root-fs: true}", func(p *Plan) any { return p.Command.ReadonlyRoot }, true},
		{"env merge", "env: [{name: B, value: u}, {name: C, value: c}]", func(p *Plan) any { return p.Env }, []EnvVar{
			{Name: "A", Value: "image", Literal: true}, {Name: "B", Value: "u"}, {Name: "C", Value: "c"}}},
		{"env null keeps image", "env: ~", func(p *Plan) any { return len(p.Env) }, 2},
		{"volume owner defaults to run-as", "security: {run-as-group-id: 5}\nvolumes: [{ssm: {path: p, mount: {destination: /d}}}]",
			func(p *Plan) any { return []any{p.Volumes[0].UID, p.Volumes[0].GID, p.Volumes[0].Mode} }, []any{uint32(1000), uint32(5), Mode(0o600)}},
		{"volume owner explicit", "volumes: [{s3: {bucket: b, mount: {destination: /d, user-id: 0, group-id: 3}}}]",
			func(p *Plan) any { return []any{p.Volumes[0].UID, p.Volumes[0].GID, p.Volumes[0].Mode} }, []any{uint32(0), uint32(3), Mode(0o644)}},
		{"volume order in one item", "volumes: [{template: {content: x, mount: {destination: /t}}, s3: {bucket: b, mount: {destination: /s}}}]",
			func(p *Plan) any { return []string{p.Volumes[0].Kind, p.Volumes[1].Kind} }, []string{"s3", "template"}},
		{"imds leading slash stripped", "env-from: [{imds: {name: X, path: /local-ipv4}}]", func(p *Plan) any { return p.EnvFrom[0].Path }, "local-ipv4"},
		{"base64 carried with name", "env-from: [{s3: {bucket: b, key: k, name: K, base64-encode: true}}]", func(p *Plan) any { return p.EnvFrom[0].Base64 }, true},
		{"base64 without name ignored", "env-from: [{s3: {bucket: b, key: k, base64-encode: true}}]", func(p *Plan) any { return []any{p.EnvFrom[0].Base64, p.Source.Warnings} },
			[]any{false, []string{"user-data:1:37: warning: env-from[0].s3.base64-encode: applies only to a value fetched with name; ignored (each JSON member is used as it is)"}}},
		{"mode int octal", "volumes: [{template: {content: x, mount: {destination: /t, mode: 0640}}}]", func(p *Plan) any { return p.Volumes[0].Mode }, Mode(0o640)},
		{"binary string", "env: [{name: A, value: !!binary aGVsbG8=}]", func(p *Plan) any { return p.Env[len(p.Env)-1].Value }, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.check(compileUD(t, tc.ud)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// Command.Reboot is a fact from the caller (the kernel command line), never from user data.
func TestRebootOnExit(t *testing.T) {
	for _, in := range []Inputs{{RebootOnExit: true}, {RebootOnExit: false}} {
		p, _, err := Compile(in)
		if err != nil {
			t.Fatal(err)
		}
		if p.Command.Reboot != in.RebootOnExit {
			t.Errorf("RebootOnExit %v: Command.Reboot = %v", in.RebootOnExit, p.Command.Reboot)
		}
	}
	p, diags, err := Compile(Inputs{RawUserData: []byte("reboot: true\n"), Metadata: []byte(testImage), Passwd: []byte(testPasswd), Group: []byte(testGroup)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Command.Reboot || !strings.Contains(diags.String(), "reboot") {
		t.Errorf("user data set reboot (reboot=%v, diagnostics %q)", p.Command.Reboot, diags)
	}
}

func TestDefaultShellAndNoMetadata(t *testing.T) {
	p, _, err := Compile(Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Command.Argv, []string{DefaultShell}) || p.Command.WorkingDir != "/" || p.Source.UserData || p.Source.MetadataSHA256 != "" {
		t.Errorf("unexpected plan %+v", p)
	}
}

func TestUserDataPresence(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("command: [/gz]\n"))
	w.Close()
	for _, tc := range []struct {
		name    string
		raw     []byte
		present bool
		argv0   string
	}{
		{"nil", nil, false, "/entry"},
		{"whitespace", []byte(" \r\n\t\n"), false, "/entry"},
		{"comments", []byte("# just a comment\n"), true, "/entry"},
		{"null document", []byte("~\n"), true, "/entry"},
		{"gzip", gz.Bytes(), true, "/gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags, err := Compile(Inputs{RawUserData: tc.raw, Metadata: []byte(testImage), Passwd: []byte(testPasswd), Group: []byte(testGroup)})
			if err != nil {
				t.Fatalf("%v %s", err, diags)
			}
			if p.Source.UserData != tc.present || p.Command.Argv[0] != tc.argv0 {
				t.Errorf("user_data=%v argv0=%s", p.Source.UserData, p.Command.Argv[0])
			}
			if (len(tc.raw) > 0) != (p.Source.UserDataSHA256 != "") {
				t.Errorf("sha256 %q for raw %q", p.Source.UserDataSHA256, tc.raw)
			}
		})
	}
	if _, diags, err := Compile(Inputs{RawUserData: []byte{0x1f, 0x8b, 1, 2, 3}}); err == nil || !strings.Contains(diags.String(), "gzip") {
		t.Errorf("corrupt gzip: %v %s", err, diags)
	}
}

func TestThreeMistakes(t *testing.T) {
	ud := "command: [/app]\n" + // 1
		"working-dir: var/lib\n" + // 2: relative
		"volumes:\n" + // 3
		"  - ebs:\n" + // 4
		"      mount:\n" + // 5: device missing
		"        destination: /data\n" + // 6
		"        fs-type: ext5\n" // 7
	_, diags, err := Compile(Inputs{RawUserData: []byte(ud), Strict: true})
	if err == nil {
		t.Fatal("no error")
	}
	want := `user-data:2:14: working-dir: must be an absolute path (got "var/lib")
user-data:5:7: volumes[0].ebs.device: field is required
user-data:7:18: volumes[0].ebs.mount.fs-type: unsupported filesystem "ext5" (want ext2, ext3, ext4, xfs, btrfs)`
	if got := diags.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if de := AsDiagnostics(err); len(de) != 3 || !strings.Contains(err.Error(), "and 2 more errors") {
		t.Errorf("error %q carries %d diagnostics", err, len(de))
	}
}

func TestStrictVersusBoot(t *testing.T) {
	ud := []byte("debug: true\nfuture: 1\n")
	if _, diags, err := Compile(Inputs{RawUserData: ud, Strict: true}); err == nil || diags[0].String() != `user-data:2:1: future: unknown key "future"` {
		t.Errorf("strict: %v %s", err, diags)
	}
	p, diags, err := Compile(Inputs{RawUserData: ud})
	if err != nil || len(diags) != 1 || diags[0].Severity != SeverityWarning {
		t.Fatalf("boot: %v %s", err, diags)
	}
	if !reflect.DeepEqual(p.Source.Warnings, []string{`user-data:2:1: warning: future: unknown key "future"; ignored`}) || !p.Debug {
		t.Errorf("warnings %q", p.Source.Warnings)
	}
}

func TestImageConfig(t *testing.T) {
	for _, tc := range []struct{ meta, want string }{
		{`{"config":{"Env":["X"]}}`, `metadata.json: config.Env[0]: entry "X" is not NAME=VALUE`},
		{"{\n  \"config\": {\n    \"Cmd\": \"x\"\n  }\n}", `metadata.json:3:14: config.Cmd: must be a list of strings, got a JSON string`},
		{"{\"config\": {]}", `metadata.json:1:13: invalid JSON`},
		{`{"config":{"User":"ghost"}}`, `metadata.json: config.User: user "ghost" not found`},
		{`{"config":{"User":"app:nogroup"}}`, `group "nogroup" not found`},
		{`{"config":{"Entrypoint":[""]}}`, `config.Entrypoint: the program`},
	} {
		_, diags, err := Compile(Inputs{Metadata: []byte(tc.meta), Passwd: []byte(testPasswd), Group: []byte(testGroup)})
		if err == nil || !strings.Contains(diags.String(), tc.want) {
			t.Errorf("%s: got %v\n%s\nwant %s", tc.meta, err, diags, tc.want)
		}
	}
}

func TestResolveUser(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want UserIDs
	}{
		{"app", UserIDs{1000, 1001, []uint32{10}}},
		{"1000", UserIDs{1000, 1001, []uint32{10}}},
		{"app:staff", UserIDs{1000, 50, []uint32{10}}},
		{"app:0", UserIDs{1000, 0, []uint32{10}}},
		{"4242", UserIDs{4242, 0, nil}},
		{"4242:7", UserIDs{4242, 7, nil}},
		{"other", UserIDs{2000, 2001, []uint32{10, 999}}},
		{"", UserIDs{0, 0, nil}},
		{"app:staff:extra", UserIDs{1000, 50, []uint32{10}}},
	} {
		got, err := ResolveUser(tc.spec, []byte(testPasswd), []byte(testGroup))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, spec := range []string{"ghost", "app:ghosts", "-1", "99999999999"} {
		if _, err := ResolveUser(spec, []byte(testPasswd), []byte(testGroup)); err == nil {
			t.Errorf("ResolveUser(%q): no error", spec)
		}
	}
}

func TestCompileDeterministic(t *testing.T) {
	ud, err := os.ReadFile("testdata/full-example/user-data.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{RawUserData: ud, Metadata: []byte(testImage), Passwd: []byte(testPasswd), Group: []byte(testGroup),
		Services: []string{"ssh", "chrony", "zz", "chrony"}, Now: time.Unix(1700000000, 0)}
	p1, _, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := Encode(p1)
	for i := 0; i < 5; i++ {
		p2, _, _ := Compile(in)
		b2, _ := Encode(p2)
		if !bytes.Equal(b1, b2) {
			t.Fatal("compile is not deterministic")
		}
	}
	var names []string
	for _, s := range p1.Services {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"chrony", "ssh", "zz"}) {
		t.Errorf("services %v", names)
	}
}

// TestPlanDeps checks that plan imports no project package and no AWS SDK.
func TestPlanDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIPPING dependency check: go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "aws") || (strings.HasPrefix(dep, "github.com/bootplan/bootplan/") && dep != "github.com/bootplan/bootplan/plan") {
			t.Errorf("plan depends on %s", dep)
		}
	}
}

func TestLookupPasswd(t *testing.T) {
	text := []byte("root:x:0:0:root:/root:/bin/sh\ncb-chrony:x:980:981::/nonexistent:/sbin/nologin\nbad:x:a:b::/:/x\n")
	u, err := LookupPasswd(text, "cb-chrony")
	if err != nil || u.UID != 980 || u.GID != 981 || u.Home != "/nonexistent" {
		t.Fatalf("got %+v, %v", u, err)
	}
	if _, err := LookupPasswd(text, "nobody"); err == nil {
		t.Fatal("missing user found")
	}
	if _, err := LookupPasswd(text, "bad"); err == nil {
		t.Fatal("malformed entry accepted")
	}
	if g, ok := LookupGroup([]byte("cb-chrony:x:981:\n"), "cb-chrony"); !ok || g != 981 {
		t.Fatalf("group %d %v", g, ok)
	}
}
