package plan

import (
	"reflect"
	"strings"
	"testing"
)

// compileDiags compiles user data against the test image and returns the plan (nil on error)
// and every diagnostic as text.
func compileDiags(t *testing.T, ud string, strict bool) (*Plan, string) {
	t.Helper()
	p, diags, err := Compile(Inputs{RawUserData: []byte(ud), Metadata: []byte(testImage), Passwd: []byte(testPasswd), Group: []byte(testGroup), Now: goldenNow, Strict: strict})
	if err != nil {
		return nil, diags.String()
	}
	return p, diags.String()
}

// Issue 11 item 8: mount.options entries may hold several comma-separated options, as in fstab.
func TestMountOptionsCommaSeparated(t *testing.T) {
	const head = "volumes:\n- ebs:\n    device: /dev/sdf\n    mount:\n      destination: /data\n      fs-type: ext4\n"
	for _, tc := range []struct {
		name, opts string
		want       []string
		err        string // substring of the diagnostic; "" = compiles
	}{
		{"one per entry", "      options:\n      - noatime\n      - nodiratime\n", []string{"noatime", "nodiratime"}, ""},
		{"comma separated", "      options:\n      - noatime,nodiratime\n", []string{"noatime", "nodiratime"}, ""},
		{"flow list", "      options: [noatime,nodiratime]\n", []string{"noatime", "nodiratime"}, ""},
		{"mixed", "      options:\n      - ro\n      - noatime,commit=60\n", []string{"ro", "noatime", "commit=60"}, ""},
		{"spaces after commas", "      options:\n      - noatime, nodiratime\n", []string{"noatime", "nodiratime"}, ""},
		{"empty pieces skipped as mount(8) does", "      options:\n      - noatime,,nodiratime,\n", []string{"noatime", "nodiratime"}, ""},
		{"space inside an option", "      options:\n      - noatime nodiratime\n", nil, `volumes[0].ebs.mount.options[0]: invalid mount option "noatime nodiratime"`},
		{"empty entry", "      options:\n      - \"\"\n", nil, `volumes[0].ebs.mount.options[0]: empty mount option`},
		{"only commas", "      options:\n      - \",\"\n", nil, `volumes[0].ebs.mount.options[0]: empty mount option`},
		{"control character", "      options:\n      - \"noatime\\tx\"\n", nil, `invalid mount option`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := compileDiags(t, head+tc.opts, true)
			if tc.err != "" {
				if p != nil || !strings.Contains(diags, tc.err) {
					t.Fatalf("want error %q, got plan=%v diagnostics:\n%s", tc.err, p != nil, diags)
				}
				return
			}
			if p == nil {
				t.Fatalf("compile failed:\n%s", diags)
			}
			if got := p.Volumes[0].MountOptions; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mount options %q, want %q", got, tc.want)
			}
		})
	}
}

// Issue 11 item 7: sysctl names in slash form work, read the way sysctl(8) reads them: the
// first separator decides the form; in slash form a dot is part of a name, in dot form a
// slash stands for a dot. The plan holds the dot form.
func TestSysctlNames(t *testing.T) {
	for _, tc := range []struct {
		in, plan, path, err string
	}{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward", ""},
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward", ""},
		{"vm/swappiness", "vm.swappiness", "vm/swappiness", ""},
		{"kernel", "kernel", "kernel", ""},
		// A VLAN interface name holds a dot.
		{"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding", ""},
		{"net.ipv4.conf.eth0/100.forwarding", "net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding", ""},
		{"net/ipv6/conf/a.b.c/disable_ipv6", "net.ipv6.conf.a/b/c.disable_ipv6", "net/ipv6/conf/a.b.c/disable_ipv6", ""},
		{"", "", "", "must not be empty"},
		{".net.ipv4", "", "", "empty component"},
		{"net.ipv4.", "", "", "empty component"},
		{"net..ipv4", "", "", "empty component"},
		{"/net/ipv4", "", "", "empty component"},
		{"net//ipv4", "", "", "empty component"},
		{"net/ipv4/", "", "", "empty component"},
		{"net ipv4", "", "", "spaces or control characters"},
		{"net.ipv4\x00", "", "", "spaces or control characters"},
		// Nothing may climb out of /proc/sys.
		{"net/../../etc", "", "", `"." or ".."`},
		{"net/./ipv4", "", "", `"." or ".."`},
		{"net.//.x", "", "", `"." or ".."`},
		{"net./.x", "", "", `"." or ".."`},
		{"net/...", "net./\x2f/", "net/...", ""},
	} {
		gotPath, err := SysctlPath(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SysctlPath(%q) = %q, %v; want error containing %q", tc.in, gotPath, err, tc.err)
			}
			if CheckSysctlName(tc.in) == nil {
				t.Errorf("CheckSysctlName(%q) accepted it", tc.in)
			}
			continue
		}
		if err != nil || gotPath != tc.path {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", tc.in, gotPath, err, tc.path)
		}
		norm, err := NormalizeSysctlName(tc.in)
		if err != nil || norm != tc.plan {
			t.Errorf("NormalizeSysctlName(%q) = %q, %v; want %q", tc.in, norm, err, tc.plan)
		}
		// The normalised name denotes the same file.
		if p2, err := SysctlPath(norm); err != nil || p2 != tc.path {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", norm, p2, err, tc.path)
		}
	}
}

func TestSysctlSlashFormCompiles(t *testing.T) {
	p, diags := compileDiags(t, "sysctls:\n- name: net/ipv4/ip_forward\n  value: 1\n- name: net/ipv4/conf/eth0.100/forwarding\n  value: \"1\"\n", true)
	if p == nil {
		t.Fatalf("compile failed:\n%s", diags)
	}
	want := []Sysctl{{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.eth0/100.forwarding", "1"}}
	if !reflect.DeepEqual(p.Sysctls, want) {
		t.Errorf("sysctls %q, want %q", p.Sysctls, want)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

// FuzzSysctlName: an accepted name maps to a path of plain file names under /proc/sys, and
// its dot form denotes the same file.
func FuzzSysctlName(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding", "a//b", "a./.b", "../x", "x/..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		rel, err := SysctlPath(n)
		if err != nil {
			return
		}
		for _, c := range strings.Split(rel, "/") {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, " \t\n\x00") {
				t.Fatalf("SysctlPath(%q) = %q", n, rel)
			}
		}
		norm, err := NormalizeSysctlName(n)
		if err != nil {
			t.Fatalf("NormalizeSysctlName(%q): %v", n, err)
		}
		if rel2, err := SysctlPath(norm); err != nil || rel2 != rel {
			t.Fatalf("dot form %q of %q is %q, %v; want %q", norm, n, rel2, err, rel)
		}
	})
}

// Issue 11 item 6: a template variable with a non-string key fails easyto's render
// (NonStringMappingKey); on an optional template that skips the volume, on any other it is an
// error. bootplan finds it while compiling: the optional volume is left out of the plan with
// a warning naming the key and the destination.
func TestTemplateNonStringKey(t *testing.T) {
	const vols = "volumes:\n" +
		"- template:\n" + // 2
		"    content: \"{{x}}\"\n" +
		"    optional: %s\n" +
		"    variables:\n" +
		"      1: one\n" + // 6
		"    mount: {destination: /bad}\n" +
		"- template:\n" +
		"    content: ok\n" +
		"    variables: {x: y}\n" +
		"    mount: {destination: /good}\n"
	for _, strict := range []bool{false, true} {
		p, diags := compileDiags(t, strings.Replace(vols, "%s", "true", 1), strict)
		if p == nil {
			t.Fatalf("strict=%v: optional volume with a bad key failed the compile:\n%s", strict, diags)
		}
		if len(p.Volumes) != 1 || p.Volumes[0].Destination != "/good" {
			t.Errorf("strict=%v: volumes %+v, want only /good", strict, p.Volumes)
		}
		want := `user-data:6:7: warning: volumes[0].template.variables: optional template volume at /bad failed, skipping: variable name 1 is a number, not a string (quote it: "1")`
		if diags != want {
			t.Errorf("strict=%v: diagnostics\n%s\nwant\n%s", strict, diags, want)
		}
	}
	p, diags := compileDiags(t, strings.Replace(vols, "%s", "false", 1), false)
	if p != nil || diags != `user-data:6:7: volumes[0].template.variables: variable name 1 is a number, not a string (quote it: "1")` {
		t.Errorf("non-optional: plan=%v diagnostics:\n%s", p != nil, diags)
	}
	// Other keys: named, nested ones too.
	for _, tc := range []struct{ vars, msg string }{
		{"{true: x}", `variable name true is a boolean, not a string (quote it: "true")`},
		{"{~: x}", `variable name ~ is null, not a string (quote it: "~")`},
		{"{a: {2.5: x}}", `variable name 2.5 is a number, not a string (quote it: "2.5")`},
		{"{[a]: x}", `variable names must be strings, got a list`},
		{"[1, 2]", `must be a mapping of names to values, got a list`},
	} {
		ud := "volumes: [{template: {content: x, optional: true, variables: " + tc.vars + ", mount: {destination: /o}}}]"
		p, diags := compileDiags(t, ud, true)
		if p == nil || len(p.Volumes) != 0 || !strings.Contains(diags, "warning: ") || !strings.Contains(diags, "optional template volume at /o failed, skipping: "+tc.msg) {
			t.Errorf("%s: plan=%v diagnostics:\n%s", tc.vars, p != nil, diags)
		}
	}
}

// A mistake outside the variables of an optional template is still an error.
func TestOptionalTemplateOtherErrors(t *testing.T) {
	p, diags := compileDiags(t, "volumes: [{template: {content: x, optional: true, variables: {1: x}, mount: {mode: rwx}}}]", false)
	if p != nil || !strings.Contains(diags, "mount.destination: field is required") || !strings.Contains(diags, "invalid mode") ||
		!strings.Contains(diags, "volumes[0].template.variables: variable name 1 is a number") || strings.Contains(diags, "warning") {
		t.Errorf("plan=%v diagnostics:\n%s", p != nil, diags)
	}
}

// Issue 11 item 10: SSM and Secrets Manager files are 0600 unless user data gives a mode;
// `validate` warns (never refuses) when that mode lets the group or others read the secret.
func TestSecretVolumeModes(t *testing.T) {
	for _, tc := range []struct {
		kind, mode string
		want       Mode
		warn       bool
	}{
		{"ssm: {path: /p", "", 0o600, false},
		{"secrets-manager: {secret-id: s", "", 0o600, false},
		{"ssm: {path: /p", `"0400"`, 0o400, false},
		{"secrets-manager: {secret-id: s", `"0640"`, 0o640, true},
		{"ssm: {path: /p", `"0604"`, 0o604, true},
		{"ssm: {path: /p", `"0620"`, 0o620, false}, // group may write, not read
		{"s3: {bucket: b", `"0644"`, 0o644, false}, // not a secret store
		{"template: {content: x", `"0644"`, 0o644, false},
	} {
		mount := "mount: {destination: /d}"
		if tc.mode != "" {
			mount = "mount: {destination: /d, mode: " + tc.mode + "}"
		}
		ud := "volumes: [{" + tc.kind + ", " + mount + "}}]"
		for _, strict := range []bool{false, true} {
			p, diags := compileDiags(t, ud, strict)
			if p == nil {
				t.Fatalf("%s: %s", ud, diags)
			}
			if p.Volumes[0].Mode != tc.want {
				t.Errorf("%s: mode %v, want %v", ud, p.Volumes[0].Mode, tc.want)
			}
			wantWarn := tc.warn && strict // a deliberate mode is not repeated at every boot
			gotWarn := strings.Contains(diags, "warning: volumes[0]."+strings.SplitN(tc.kind, ":", 2)[0]+".mount.mode: mode "+strings.Trim(tc.mode, `"`)+" lets")
			if gotWarn != wantWarn || (!wantWarn && diags != "") {
				t.Errorf("%s (strict %v): diagnostics %q, want warning %v", ud, strict, diags, wantWarn)
			}
		}
	}
}
