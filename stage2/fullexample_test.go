package stage2

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

var updateJournal = flag.Bool("update-journal", false, "write testdata/full-example.journal")

// TestReplayFullExample compiles the full user-data example, seeds its S3, SSM, Secrets
// Manager and EC2 contents in moto, and replays it in a sandbox: EBS formatting and mounts,
// modules, sysctls and processes are recorded in the journal. The journal is the README's.
func TestReplayFullExample(t *testing.T) {
	ud, err := os.ReadFile("testdata/full-user-data.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, diags, err := plan.Compile(plan.Inputs{RawUserData: ud, Now: time.Unix(0, 0), Version: "test", SkipUserLookup: true})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, diags)
	}

	// EC2: an instance, and the journal volume the attachment finds by its tags.
	f0 := newFixture(t, imdsmock.Config{}) // resets moto; used for seeding EC2 first
	e := ec2.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: f0.s3.Options().Credentials, BaseEndpoint: f0.s3.Options().BaseEndpoint})
	imgs, err := e.DescribeImages(f0.ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("moto images: %v", err)
	}
	run, err := e.RunInstances(f0.ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		Placement: &ec2types.Placement{AvailabilityZone: aws.String("us-east-1a")}})
	if err != nil {
		t.Fatalf("run instance: %v", err)
	}
	iid := aws.ToString(run.Instances[0].InstanceId)
	if _, err := e.CreateVolume(f0.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(8),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{
			{Key: aws.String("ledger-volume"), Value: aws.String("journal")}, {Key: aws.String("environment"), Value: aws.String("prod")}}}}}); err != nil {
		t.Fatalf("create volume: %v", err)
	}

	// The replay itself, with IMDS answering as that instance (no reset: EC2 state stays).
	f := newFixtureNoReset(t, imdsmock.Config{InstanceID: iid, AZ: "us-east-1a", LocalIPv4: "10.0.1.23"})
	f.bucket("ledger-config-prod")
	f.object("ledger-config-prod", "env/common.json", `{"REGION_LABEL":"prod-east","MAX_CONNS":64,"TRACE":false}`)
	f.object("ledger-config-prod", "tls/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	f.object("ledger-config-prod", "static/index.html", "<h1>ledger</h1>\n")
	f.object("ledger-config-prod", "static/css/site.css", "body{}\n")
	f.param("/ledger/prod/feature-flags", `{"FEATURE_BATCH":"on","FEATURE_AUDIT":true}`, false)
	f.param("/ledger/prod/certs/server.crt", "CERT", false)
	f.param("/ledger/prod/certs/private/server.key", secretSSM, true)
	f.secret("ledger/prod/db", secretDB)
	f.secret("ledger/prod/license", secretFile)
	// The image: the command, mkfs programs, blank disks the sandbox reads as devices.
	for _, d := range []string{"etc", "srv", "var/lib", ".easyto/run"} {
		if err := os.MkdirAll(f.host.Root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.file("/usr/local/bin/ledger", 0o755, "#!/bin/sh\n")
	f.file("/.easyto/sbin/mkfs.xfs", 0o755, "")
	f.file("/.easyto/sbin/mkfs.ext4", 0o755, "")
	f.file("/proc/sys/kernel/osrelease", 0o644, "6.1.0-28-cloud-amd64\n")
	f.file("/lib/modules/6.1.0-28-cloud-amd64/modules.dep", 0o644,
		"kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\nkernel/net/bridge/bridge.ko:\nkernel/net/netfilter/nf_conntrack.ko:\n")
	for _, m := range []string{"bridge/br_netfilter", "bridge/bridge", "netfilter/nf_conntrack"} {
		f.file("/lib/modules/6.1.0-28-cloud-amd64/kernel/net/"+m+".ko", 0o644, "")
	}
	blank := strings.Repeat("\x00", 1<<20)
	f.file("/dev/sdf", 0o600, blank)
	f.file("/dev/sdg", 0o600, blank)

	rt, cmd, err := f.run(p)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, f.logs.String())
	}
	journal := f.journal()
	rep, _ := DecodeReport([]byte(f.read(plan.ReportPath)))
	out := "journal:\n" + journal + rep.Table()
	t.Logf("\n%s", out)
	if *updateJournal {
		if err := os.WriteFile("testdata/full-example.journal", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{
		"mount    /dev/sdf on /var/lib/ledger (xfs",
		"mount    /dev/sdg on /var/lib/ledger-journal (ext4",
		"run      mkfs.xfs -q /dev/sdf",
		"sysctl   net.ipv4.ip_forward=1",
		"write    /etc/ledger/license.key (0600, 1000:1000,",
		"write    /etc/ledger/certs/private/server.key (0600, 1000:1000,",
		"write    /etc/ledger/config.toml (0640, 1000:1000,",
		"write    /srv/ledger/static/css/site.css (0644,",
		"run      init-script-0: /.easyto/run/init-0",
		"run      init-script-1: /.easyto/run/init-1",
	} {
		if !strings.Contains(journal, w) {
			t.Errorf("journal lacks %q", w)
		}
	}
	// readonly-root-fs without replace-init: the supervisor remounts / after the services'
	// setup (ssh keys), not the steps.
	if strings.Contains(journal, "remount  / read-only") {
		t.Error("the steps remounted / read-only before the services' setup")
	}
	env := envMap(rt.Env)
	if env["DATABASE_URL"] != "postgres://ledger:"+secretDB+"@db.internal:5432/ledger" || env["LISTEN_ADDR"] != "10.0.1.23:8443" || env["FEATURE_AUDIT"] != "true" {
		t.Errorf("env: %v", env["LISTEN_ADDR"])
	}
	if got := f.read("/etc/ledger/config.toml"); !strings.Contains(got, `zone = "us-east-1a"`) || !strings.Contains(got, `address = "10.0.2.10:8443"`) {
		t.Errorf("config.toml:\n%s", got)
	}
	if cmd.Path != "/usr/local/bin/ledger" || cmd.UID != 1000 || cmd.Dir != "/var/lib/ledger" {
		t.Errorf("cmd = %+v", cmd)
	}
	f.noLeak(nil, secretDB, secretSSM, secretFile)
}
