package stage2

import (
	"slices"
	"testing"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// validate allows a file volume inside another file volume's destination because the two do
// not race: the inner one is prepared after the outer one, so its file wins.
func TestNestedFileVolumesAreOrdered(t *testing.T) {
	p := &plan.Plan{Volumes: []plan.Volume{
		{Kind: plan.KindSecretsManager, SecretID: "k", Destination: "/etc/app/key.pem"},
		{Kind: plan.KindS3, Bucket: "b", KeyPrefix: "app/", Destination: "/etc/app"},
	}}
	for _, s := range Sequence(&Runtime{Plan: p}) {
		if s.Name == "volume-0" && !slices.Contains(s.After, "volume-1") {
			t.Fatalf("volume-0 (inside volume-1) runs after %v", s.After)
		}
	}

	f := newFixture(t, imdsmock.Config{})
	f.bucket("nested")
	f.object("nested", "app/key.pem", "from-s3")
	f.object("nested", "app/other.conf", "other")
	f.secret("k", "from-secrets-manager")
	bp := f.basePlan()
	bp.Volumes = []plan.Volume{
		{Kind: plan.KindSecretsManager, SecretID: "k", Destination: "/etc/app/key.pem", Mode: 0o600},
		{Kind: plan.KindS3, Bucket: "nested", KeyPrefix: "app/", Destination: "/etc/app", Mode: 0o644},
	}
	if _, _, err := f.run(bp); err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	if got := f.read("/etc/app/key.pem"); got != "from-secrets-manager" {
		t.Errorf("key.pem = %q: the outer volume overwrote the inner one", got)
	}
	if got := f.read("/etc/app/other.conf"); got != "other" {
		t.Errorf("other.conf = %q", got)
	}
}
