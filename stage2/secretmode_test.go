package stage2

import (
	"os"
	"testing"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// Issue 11 item 10, end to end: user data compiled by plan, files written by stage two. SSM
// and Secrets Manager files are 0600 (easyto's fixed mode) unless user data gives a mode,
// which is then applied exactly.
func TestSecretVolumeModesApplied(t *testing.T) {
	ud := `volumes:
- ssm: {path: /app/one, mount: {destination: /etc/app/ssm-default}}
- ssm: {path: /app/one, mount: {destination: /etc/app/ssm-0640, mode: "0640"}}
- secrets-manager: {secret-id: lic, mount: {destination: /etc/app/sm-default}}
- secrets-manager: {secret-id: lic, mount: {destination: /etc/app/sm-0400, mode: "0400"}}
`
	compiled, diags, err := plan.Compile(plan.Inputs{RawUserData: []byte(ud)})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, diags)
	}
	f := newFixture(t, imdsmock.Config{})
	f.param("/app/one", "one", true)
	f.secret("lic", "license")
	p := f.basePlan()
	p.Volumes = compiled.Volumes
	if _, _, err := f.run(p); err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	for path, want := range map[string]os.FileMode{
		"/etc/app/ssm-default": 0o600, "/etc/app/ssm-0640": 0o640,
		"/etc/app/sm-default": 0o600, "/etc/app/sm-0400": 0o400,
	} {
		if got := f.mode(path); got != want {
			t.Errorf("mode %s = %04o, want %04o", path, got, want)
		}
	}
}
