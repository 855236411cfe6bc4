package stage2

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
)

func TestEnvFromValue(t *testing.T) {
	tests := []struct {
		raw, name string
		b64       bool
		want      string // NAME=VALUE;...
		skipped   string
		err       string
	}{
		{" v \n", "A", false, "A=v", "", ""},
		{" v \n", " A ", true, "A=IHYgCg==", "", ""},
		{`{"A":"x","B":1.50,"C":true,"D":-3,"E":false,"F":"a\"b\u00e9"}`, "", false, `A=x;B=1.50;C=true;D=-3;E=false;F=a"bé`, "", ""},
		// base64-encode without name: ignored (easyto's README: it is for a value with name).
		{`{"A":"x"}`, "", true, "A=x", "", ""},
		{`{}`, "", false, "", "", ""},
		// null, arrays and objects are skipped (easyto), nested ones included.
		{`{"A":[1,{"x":[2]}],"B":"b","C":null,"D":{"E":{"F":null}},"G":2}`, "", false, "B=b;G=2", "A,C,D", ""},
		{`{"A":null}`, "", false, "", "A", ""},
		{`{"A":1,"A":2}`, "", false, "", "", `duplicate key "A"`},
		{`{"A":null,"A":2}`, "", false, "", "", `duplicate key "A"`},
		{`{"":"x"}`, "", false, "", "", `key "" is not a valid variable name`},
		{`"str"`, "", false, "", "", "got a string"},
		{`[{"A":"x"}]`, "", false, "", "", "got an array"},
		{`5`, "", false, "", "", "got a number"},
		{`{"A":"x"} {}`, "", false, "", "", "data after the object"},
		{`{"A":"SECRETVALUE"`, "", false, "", "", "invalid JSON"},
		{`{"A":[1,"SECRETVALUE"`, "", false, "", "", "invalid JSON"},
		{`{"A":[1,"SECRETVALUE"]`, "", false, "", "", "invalid JSON"},
	}
	for _, tt := range tests {
		vars, skipped, err := EnvFromValue([]byte(tt.raw), tt.name, tt.b64)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("%q: err = %v, want %q", tt.raw, err, tt.err)
			}
			continue
		}
		var got []string
		for _, v := range vars {
			got = append(got, v.Name+"="+v.Value)
		}
		if err != nil || strings.Join(got, ";") != tt.want || strings.Join(skipped, ",") != tt.skipped {
			t.Errorf("%q: got %q, skipped %q, %v; want %q, skipped %q", tt.raw, got, skipped, err, tt.want, tt.skipped)
		}
	}
}

func TestVolumeRelPath(t *testing.T) {
	tests := []struct{ name, prefix, want, err string }{
		{"static/a/b.txt", "static/", "a/b.txt", ""},
		{"static/", "static/", "", ""},
		{"static", "static/", "static", ""},
		{"/app/certs/ca", "/app/certs", "ca", ""},
		{"/app/certs", "/app/certs", "", ""},
		{"p/../x", "p/", "", "escape"},
		{"p/a/../../x", "p/", "", "escape"},
		{"p//a/./b", "p/", "a/b", ""},
		{"p/a\x00", "p/", "", "NUL"},
	}
	for _, tt := range tests {
		got, err := VolumeRelPath(tt.name, tt.prefix)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

type fakeFI struct {
	dir  bool
	mode fs.FileMode
}

func (f fakeFI) Name() string       { return "" }
func (f fakeFI) Size() int64        { return 0 }
func (f fakeFI) Mode() fs.FileMode  { return f.mode }
func (f fakeFI) ModTime() time.Time { return time.Time{} }
func (f fakeFI) IsDir() bool        { return f.dir }
func (f fakeFI) Sys() any           { return nil }

func TestLookPath(t *testing.T) {
	files := map[string]fakeFI{"/a/x": {dir: true}, "/b/x": {mode: 0o644}, "/c/x": {mode: 0o755}, "/d/x": {mode: 0o700},
		"/opt/bin/app": {mode: 0o755}, "/srv/bin/app": {mode: 0o755}, "/bin/app": {mode: 0o755}}
	stat := func(p string) (fs.FileInfo, error) {
		if f, ok := files[p]; ok {
			return f, nil
		}
		return nil, &fs.PathError{Op: "stat", Path: p, Err: os.ErrNotExist}
	}
	tests := []struct{ name, path, want, err string }{
		{"x", "/a::/b:/c:/d", "/c/x", ""},
		{"x", "/d", "/d/x", ""},
		{"x", "", "", `command "x" not found in PATH=`},
		{"/c/x", "", "/c/x", ""},
		{"/nope", "/c", "", "No such file or directory"},
		{"/a/x", "", "", "not an executable"},
		// A relative name holding "/" is searched on PATH too (not taken from the cwd).
		{"bin/app", "/usr:/opt:/srv", "/opt/bin/app", ""},
		{"bin/app", "/usr", "", `command "bin/app" not found in PATH=/usr`},
		{"./bin/app", "/srv", "/srv/bin/app", ""},
	}
	for _, tt := range tests {
		got, err := LookPath(stat, tt.name, tt.path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v", tt.name, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q %v, want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestRenderTemplate(t *testing.T) {
	env := []plan.EnvVar{{Name: "Z", Value: "us-east-1a"}, {Name: "BIG", Value: strings.Repeat("b", 100<<10)}}
	tests := []struct{ content, vars, want, err string }{
		{"{{a}}", "", "{{a}}", ""},
		{"{{a}}", "null", "{{a}}", ""},
		{"{{a}}|{{{a}}}|{{&a}}", `{"a":"<'\"&>"}`, "&lt;&#39;&quot;&amp;&gt;|<'\"&>|<'\"&>", ""},
		{"{{#l}}[{{.}}]{{/l}}{{^e}}none{{/e}}", `{"l":[1,"$(Z)"],"e":[]}`, "[1][us-east-1a]none", ""},
		{"{{z}} $(Z)", `{"z":"$(Z)-$$(Z)-$(NOPE)"}`, "us-east-1a-$(Z)-$(NOPE) $(Z)", ""},
		{"{{#a}}", `{"a":1}`, "", `mustache: unclosed section "a" opened at line 1:1`},
		{"x", `"str"`, "", "InvalidVariableMapping"},
		// A variable referencing a 100 KiB value 30 times: within the budget; 20 such strings
		// together are not.
		{"{{a}}", `{"a":"` + strings.Repeat("$(BIG)", 30) + `"}`, strings.Repeat("b", 3000<<10), ""},
		{"{{a}}", `{"a":[` + strings.Repeat(`"`+strings.Repeat("$(BIG)", 50)+`",`, 19) + `"x"]}`, "", "variables: the strings grow past 4 MiB with $(VAR) references expanded"},
	}
	for _, tt := range tests {
		got, err := RenderTemplate(tt.content, tt.vars, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.err)) {
				t.Errorf("%q: err = %v, want %q", tt.content, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q %v, want %q", tt.content, got, err, tt.want)
		}
	}
}

func TestSandboxRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	h, err := NewSandboxHost(dir + "/root")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := os.Symlink("/", dir+"/root/abs"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..", dir+"/root/up"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../x", "/a/../../x", "/abs/tmp/x", "/up/x"} {
		if err := h.WriteFileAtomic(p, []byte("x"), 0o644, -1, -1); err == nil {
			t.Errorf("write %s succeeded", p)
		}
		if _, err := h.MkdirAll(p+"/d", 0o755); err == nil {
			t.Errorf("mkdir %s succeeded", p)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("written outside the root: %v", ents)
	}
}

// A volume whose destination lies inside another volume's waits for it, whatever their order
// in the plan: otherwise the inner mount may happen first and be hidden by the outer one.
func TestSequenceNestedVolumesWaitForOuter(t *testing.T) {
	p := &plan.Plan{Version: plan.Version, Command: plan.Command{Argv: []string{"/bin/app"}}}
	p.Volumes = []plan.Volume{
		{Kind: plan.KindEBS, Device: "/dev/sdg", Destination: "/data/sub", FSType: "ext4"},
		{Kind: plan.KindSSM, Path: "/p", Destination: "/data/cfg/app"},
		{Kind: plan.KindEBS, Device: "/dev/sdf", Destination: "/data", FSType: "ext4"},
		{Kind: plan.KindEBS, Device: "/dev/sdh", Destination: "/data", FSType: "ext4"},
	}
	after := map[string][]string{}
	for _, s := range Sequence(&Runtime{Plan: p}) {
		after[s.Name] = s.After
	}
	has := func(step, dep string) bool {
		for _, d := range after[step] {
			if d == dep {
				return true
			}
		}
		return false
	}
	for _, c := range []struct{ step, dep string }{{"volume-0", "volume-2"}, {"volume-1", "volume-2"}, {"volume-0", "volume-3"}} {
		if !has(c.step, c.dep) {
			t.Errorf("%s does not wait for %s (after %v)", c.step, c.dep, after[c.step])
		}
	}
	if has("volume-2", "volume-3") || has("volume-3", "volume-2") || has("volume-2", "volume-0") {
		t.Errorf("unexpected dependencies: %v", after)
	}
	if _, err := graph.Check(Sequence(&Runtime{Plan: p})); err != nil {
		t.Fatal(err)
	}
}

// readonly-root-fs: stage two's steps remount / read-only only for replace-init (nothing
// follows the exec); otherwise the supervisor does it after the services' setup (ssh keys),
// so the ssh setup is not done on a read-only root.
func TestSequenceReadonlyRootOnlyForReplaceInit(t *testing.T) {
	for _, replace := range []bool{false, true} {
		p := &plan.Plan{Version: plan.Version, Command: plan.Command{ReadonlyRoot: true, ReplaceInit: replace}}
		has := false
		for _, s := range Sequence(&Runtime{Plan: p}) {
			has = has || s.Name == "readonly-root"
		}
		if has != replace {
			t.Errorf("replace-init %v: readonly-root step %v, want %v", replace, has, replace)
		}
	}
}
