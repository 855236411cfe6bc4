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
