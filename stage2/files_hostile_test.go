package stage2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// Directories created above a volume's destination stay root's 0755: a workload owning
// /opt/app could plant links beside files PID 1 writes there at every boot. Only the tree
// at and below a directory destination (an S3 prefix, an SSM path) gets the volume's owner.
func TestReplayVolumeDirOwners(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	f.bucket("site")
	f.object("site", "static/index.html", "<h1>hi</h1>")
	f.object("site", "static/css/app.css", "body{}")
	f.param("/app/certs/tls/key", secretSSM, true)
	f.secret("lic", secretFile)

	p := f.basePlan()
	p.Volumes = []plan.Volume{
		{Kind: "template", Destination: "/opt/app/conf/config.json", Content: "{}", UID: 1000, GID: 1000, Mode: 0o644},
		{Kind: "secrets-manager", SecretID: "lic", Destination: "/opt/lic/license.key", UID: 1000, GID: 1000, Mode: 0o600},
		{Kind: "s3", Bucket: "site", KeyPrefix: "static/", Destination: "/srv/site/www", UID: 1000, GID: 1000, Mode: 0o644},
		{Kind: "ssm", Path: "/app/certs", Destination: "/etc/certs", UID: 1000, GID: 1000, Mode: 0o600},
	}
	if _, _, err := f.run(p); err != nil {
		t.Fatalf("Execute: %v\n%s", err, f.logs.String())
	}
	j := f.journal()
	for _, d := range []string{"/opt", "/opt/app", "/opt/app/conf", "/opt/lic", "/srv", "/srv/site", "/etc"} {
		if strings.Contains(j, "chown    "+d+" ") {
			t.Errorf("%s, above a destination, was chowned:\n%s", d, j)
		}
		if m := f.mode(d); m != 0o755 {
			t.Errorf("%s mode %o, want 0755", d, m)
		}
	}
	for _, w := range []string{
		"write    /opt/app/conf/config.json (0644, 1000:1000,",
		"write    /opt/lic/license.key (0600, 1000:1000,",
		"chown    /srv/site/www 1000:1000",
		"chown    /srv/site/www/css 1000:1000",
		"write    /srv/site/www/css/app.css (0644, 1000:1000,",
		"chown    /etc/certs 1000:1000",
		"chown    /etc/certs/tls 1000:1000",
	} {
		if !strings.Contains(j, w) {
			t.Errorf("journal lacks %q:\n%s", w, j)
		}
	}
}

// setuid, setgid and sticky bits in a file volume's mode are honoured, as on an EBS volume's
// root directory: one rule for every volume kind.
func TestReplayFileVolumeSpecialBits(t *testing.T) {
	for _, m := range []plan.Mode{0o4755, 0o2750, 0o1644, 0o6711} {
		t.Run(m.String(), func(t *testing.T) {
			f := newFixture(t, imdsmock.Config{})
			p := f.basePlan()
			p.Volumes = []plan.Volume{{Kind: "template", Destination: "/opt/bin/tool", Content: "#!/bin/sh\n", Mode: m}}
			if _, _, err := f.run(p); err != nil {
				t.Fatalf("Execute: %v\n%s", err, f.logs.String())
			}
			fi, err := os.Stat(filepath.Join(f.host.Root, "opt/bin/tool"))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() &^ os.ModeType; got != unixMode(m) {
				t.Errorf("mode %v, want %v (%s)", got, unixMode(m), m)
			}
			if w := "write    /opt/bin/tool (" + m.String() + ","; !strings.Contains(f.journal(), w) {
				t.Errorf("journal lacks %q:\n%s", w, f.journal())
			}
		})
	}
}

// A symlink planted by the workload below an S3 prefix's destination (the tree it owns),
// pointing elsewhere on the machine, is refused: every component between the destination
// and the file is checked, not only the destination. os.Root alone would allow it (the
// link stays inside the sandbox root), so this fails when only the destination is checked.
func TestReplayS3IntermediateSymlinkRefused(t *testing.T) {
	f := newFixture(t, imdsmock.Config{})
	f.bucket("site")
	f.object("site", "static/css/app.css", "body{}")
	f.object("site", "static/a.html", "<h1>hi</h1>") // listed before css/: written first unless every path is checked first
	f.file("/etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n")
	if err := os.MkdirAll(filepath.Join(f.host.Root, "srv/www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../etc", filepath.Join(f.host.Root, "srv/www/css")); err != nil {
		t.Fatal(err)
	}
	p := f.basePlan()
	p.Volumes = []plan.Volume{{Kind: "s3", Bucket: "site", KeyPrefix: "static/", Destination: "/srv/www", Mode: 0o644}}
	_, _, err := f.run(p)
	if err == nil || !strings.Contains(err.Error(), "/srv/www/css is a symlink") {
		t.Fatalf("err = %v, want the symlink refused", err)
	}
	if _, err := os.Lstat(filepath.Join(f.host.Root, "etc/app.css")); err == nil {
		t.Error("app.css was written through the symlink into /etc")
	}
	if _, err := os.Lstat(filepath.Join(f.host.Root, "srv/www/a.html")); err == nil {
		t.Error("files were written although one path holds a symlink")
	}
	if got := f.read("/etc/passwd"); got != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("/etc/passwd changed: %q", got)
	}
}
