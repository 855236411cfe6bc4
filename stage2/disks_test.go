package stage2

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/testneed"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/tests/imdsmock"
)

// sandbox returns a runtime on a fresh sandbox host with console output captured.
func sandbox(t *testing.T, p *plan.Plan) (*Runtime, *SandboxHost, *syncBuffer) {
	t.Helper()
	h, err := NewSandboxHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	logs := &syncBuffer{}
	prev := console.Output()
	console.SetOutput(logs)
	t.Cleanup(func() { console.SetOutput(prev) })
	if p == nil {
		p = &plan.Plan{Version: plan.Version}
	}
	return &Runtime{Plan: p, Host: h}, h, logs
}

func put(t *testing.T, h *SandboxHost, p string, data []byte) {
	t.Helper()
	full := filepath.Join(h.Root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func journal(h *SandboxHost, ops ...string) []string {
	var out []string
	for _, e := range h.Journal() {
		for _, op := range ops {
			if e.Op == op {
				out = append(out, e.Op+" "+e.Detail)
			}
		}
	}
	return out
}

func TestLoadModules(t *testing.T) {
	rt, h, logs := sandbox(t, &plan.Plan{Modules: []plan.Module{
		{Name: "br_netfilter"},
		{Name: "bridge"}, // loaded already as a dependency: finit_module says EEXIST (success)
		{Name: "ext4"},
		{Name: "evdev", Params: []string{"a=1", "b=2"}},
		{Name: "fs-xfs"},
	}})
	put(t, h, "/proc/sys/kernel/osrelease", []byte("6.1.0-test\n"))
	d := "/lib/modules/6.1.0-test/"
	put(t, h, d+"modules.dep", []byte("kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko\nkernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\nkernel/net/802/stp.ko: kernel/net/llc/llc.ko\nkernel/net/llc/llc.ko:\nkernel/drivers/input/evdev.ko:\nkernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\nkernel/lib/libcrc32c.ko:\n"))
	put(t, h, d+"modules.builtin", []byte("kernel/fs/ext4/ext4.ko\n"))
	put(t, h, d+"modules.alias", []byte("alias fs-xfs xfs\n"))
	if err := rt.LoadModules(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"module " + d + "kernel/net/llc/llc.ko",
		"module " + d + "kernel/net/802/stp.ko",
		"module " + d + "kernel/net/bridge/bridge.ko",
		"module " + d + "kernel/net/bridge/br_netfilter.ko",
		"module " + d + "kernel/net/llc/llc.ko",
		"module " + d + "kernel/net/802/stp.ko",
		"module " + d + "kernel/net/bridge/bridge.ko",
		"module " + d + "kernel/drivers/input/evdev.ko a=1 b=2",
		"module " + d + "kernel/lib/libcrc32c.ko",
		"module " + d + "kernel/fs/xfs/xfs.ko",
	}
	if got := journal(h, "module"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("journal:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(logs.String(), "module ext4: built into the kernel") {
		t.Errorf("logs: %s", logs)
	}
	if strings.Contains(logs.String(), "ignored") {
		t.Errorf("a warning about ignored parameters without any: %s", logs)
	}

	// Already loaded (in /sys/module): nothing loaded. Unknown: one-line error naming it.
	rt.Plan.Modules = []plan.Module{{Name: "evdev"}, {Name: "nosuch"}}
	put(t, h, "/sys/module/evdev/initstate", []byte("live\n"))
	n := len(journal(h, "module"))
	err := rt.LoadModules(context.Background())
	if err == nil || !strings.Contains(err.Error(), "module nosuch not found in /lib/modules/6.1.0-test") {
		t.Fatalf("error = %v", err)
	}
	if len(journal(h, "module")) != n {
		t.Errorf("evdev loaded again")
	}
	// Parameters of a module that is not loaded now (already loaded, built in) are ignored:
	// a warning names the module and the parameters.
	rt.Plan.Modules = []plan.Module{{Name: "evdev", Params: []string{"a=1", "b=2"}}, {Name: "ext4", Params: []string{"c=3"}}}
	before := len(logs.String())
	if err := rt.LoadModules(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warning: module evdev: parameters a=1 b=2 ignored: it is already loaded", "warning: module ext4: parameters c=3 ignored: it is built into the kernel"} {
		if !strings.Contains(logs.String()[before:], want) {
			t.Errorf("no %q in logs:\n%s", want, logs)
		}
	}
	if len(journal(h, "module")) != n {
		t.Errorf("a module was loaded")
	}
	rt.Plan.Modules = []plan.Module{{Name: "../x"}}
	if err := rt.LoadModules(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Fatalf("bad name: %v", err)
	}
}

func TestApplySysctls(t *testing.T) {
	rt, h, _ := sandbox(t, &plan.Plan{Sysctls: []plan.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}, {Name: "net.bridge.bridge-nf-call-iptables", Value: "1"}}})
	if err := rt.ApplySysctls(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := journal(h, "sysctl"); strings.Join(got, ";") != "sysctl net.ipv4.ip_forward=1;sysctl net.bridge.bridge-nf-call-iptables=1" {
		t.Fatalf("journal %v", got)
	}
	for _, bad := range []string{"", "net/../x", "net..x", ".net", "net.", "kernel.a b", "../../etc/passwd"} {
		rt.Plan.Sysctls = []plan.Sysctl{{Name: bad, Value: "1"}}
		if err := rt.ApplySysctls(context.Background()); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("sysctl %q: ", bad)) {
			t.Errorf("sysctl %q: error %v", bad, err)
		}
	}
}

// disk makes a disk image with tool (or zeros/random when tool is "" / "random").
func disk(t *testing.T, tool string, size int64) []byte {
	t.Helper()
	switch tool {
	case "":
		return make([]byte, 2<<20)
	case "random":
		b := make([]byte, 2<<20)
		rand.Read(b)
		return b
	}
	bin := testneed.Tool(t, tool, "e2fsprogs xfsprogs btrfs-progs")
	f := filepath.Join(t.TempDir(), "img")
	os.WriteFile(f, nil, 0o600)
	os.Truncate(f, size)
	if out, err := exec.Command(bin, "-q", "-f", f).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command(bin, "-q", "-F", f).CombinedOutput(); err2 != nil {
			t.Fatalf("%s: %v %s %s", tool, err, out, out2)
		}
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, 2<<20)
	if _, err := fh.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrepareEBS(t *testing.T) {
	vol := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdf", FSType: "ext4", Destination: "/data", UID: 1000, GID: 1000, Mode: 0o750, MountOptions: []string{"noatime", "commit=60"}}
	cases := []struct {
		name, tool string
		size       int64
		fstype     string
		mkfs       bool
		err        string
	}{
		{name: "blank is formatted", tool: "", fstype: "ext4", mkfs: true},
		{name: "blank as xfs", tool: "", fstype: "xfs", mkfs: true},
		{name: "ext4 is kept", tool: "mkfs.ext4", size: 64 << 20, fstype: "ext4"},
		{name: "btrfs is kept", tool: "mkfs.btrfs", size: 256 << 20, fstype: "btrfs"},
		{name: "xfs asked as ext4", tool: "mkfs.xfs", size: 320 << 20, fstype: "ext4", err: "ebs /dev/sdf holds xfs, plan asks for ext4: refusing to format a disk that holds data"},
		{name: "unknown data", tool: "random", fstype: "ext4", err: "ebs /dev/sdf holds data of unknown type (first MiB not all zero), plan asks for ext4: refusing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := disk(t, c.tool, c.size)
			rt, h, logs := sandbox(t, nil)
			put(t, h, "/dev/sdf", img)
			put(t, h, "/.easyto/sbin/mkfs."+c.fstype, []byte("#!/bin/sh\n"))
			v := vol
			v.FSType = c.fstype
			err := rt.PrepareEBS(context.Background(), v)
			runs := journal(h, "run")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error = %v, want %q", err, c.err)
				}
				if len(runs) != 0 || len(journal(h, "mount")) != 0 {
					t.Fatalf("touched the disk: %v %v", runs, journal(h, "mount"))
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			if c.mkfs != (len(runs) == 1) {
				t.Fatalf("mkfs runs %v, want mkfs=%v", runs, c.mkfs)
			}
			if c.mkfs && !strings.Contains(runs[0], "mkfs."+c.fstype+" -q /dev/sdf") {
				t.Fatalf("mkfs run %q", runs[0])
			}
			m := journal(h, "mount")
			if len(m) != 1 || !strings.Contains(m[0], "/dev/sdf on /data ("+c.fstype) || !strings.Contains(m[0], "commit=60") {
				t.Fatalf("mount %v", m)
			}
			// Mode and owner go to the mounted root of a filesystem just made, after the
			// mount; an existing filesystem's root is left as it is (nothing given here).
			after := rootChanges(h)
			if c.mkfs && strings.Join(after, ";") != "chmod /data 0750;chown /data 1000:1000" {
				t.Fatalf("chmod/chown after mount: %v (journal %v)", after, h.Journal())
			}
			if !c.mkfs && len(after) != 0 {
				t.Fatalf("an existing filesystem's root was changed: %v", after)
			}
		})
	}
}

// rootChanges returns the chmod and chown operations after the (first) mount.
func rootChanges(h *SandboxHost) []string {
	var after []string
	seen := false
	for _, e := range h.Journal() {
		if e.Op == "mount" {
			seen = true
		} else if seen && (e.Op == "chmod" || e.Op == "chown") {
			after = append(after, e.Op+" "+e.Detail)
		}
	}
	return after
}

// TestPrepareEBSRoot: mode, user-id and group-id given in user data are applied to the root of
// an existing filesystem at every boot; those not given are left as the application made them
// (a PostgreSQL data directory stays 0700). A filesystem just made gets all of them.
func TestPrepareEBSRoot(t *testing.T) {
	base := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdf", FSType: "ext4", Destination: "/data", UID: 1000, GID: 1001, Mode: 0o750}
	cases := []struct {
		name           string
		blank          bool
		mode, uid, gid bool
		want           string
	}{
		{name: "existing, nothing given", want: ""},
		{name: "existing, mode given", mode: true, want: "chmod /data 0750"},
		{name: "existing, user-id given", uid: true, want: "chown /data 1000:-"},
		{name: "existing, group-id given", gid: true, want: "chown /data -:1001"},
		{name: "existing, all given", mode: true, uid: true, gid: true, want: "chmod /data 0750;chown /data 1000:1001"},
		{name: "new, nothing given", blank: true, want: "chmod /data 0750;chown /data 1000:1001"},
		{name: "new, mode given", blank: true, mode: true, want: "chmod /data 0750;chown /data 1000:1001"},
	}
	ext4 := disk(t, "mkfs.ext4", 64<<20)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, h, logs := sandbox(t, nil)
			img := ext4
			if c.blank {
				img = disk(t, "", 0)
			}
			put(t, h, "/dev/sdf", img)
			put(t, h, "/.easyto/sbin/mkfs.ext4", []byte("#!/bin/sh\n"))
			v := base
			v.ModeGiven, v.UIDGiven, v.GIDGiven = c.mode, c.uid, c.gid
			if err := rt.PrepareEBS(context.Background(), v); err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			if got := strings.Join(rootChanges(h), ";"); got != c.want {
				t.Fatalf("root changes %q, want %q", got, c.want)
			}
		})
	}
}

func TestPrepareEBSMissing(t *testing.T) {
	old := DefaultDeviceWait
	DefaultDeviceWait = 300 * time.Millisecond
	t.Cleanup(func() { DefaultDeviceWait = old })
	rt, h, _ := sandbox(t, nil)
	err := rt.PrepareEBS(context.Background(), plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdg", FSType: "ext4", Destination: "/d"})
	if err == nil || !strings.Contains(err.Error(), "ebs /dev/sdg: the device did not appear within 300ms") {
		t.Fatalf("error = %v", err)
	}
	// Blank but no mkfs for the type in the image.
	put(t, h, "/dev/sdh", make([]byte, 1<<20))
	err = rt.PrepareEBS(context.Background(), plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdh", FSType: "btrfs", Destination: "/d"})
	if err == nil || !strings.Contains(err.Error(), "/.easyto/sbin/mkfs.btrfs is missing") {
		t.Fatalf("error = %v", err)
	}
	if err := rt.PrepareEBS(context.Background(), plan.Volume{Kind: plan.KindEBS, Device: "sdh"}); err == nil {
		t.Fatal("relative device accepted")
	}
}

func identify(vid uint16, serial, model, bdev string) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b, vid)
	copy(b[4:24], serial+strings.Repeat(" ", 20))
	copy(b[24:64], model+strings.Repeat(" ", 40))
	copy(b[3072:], bdev)
	return b
}

func TestLinkNVMe(t *testing.T) {
	rt, h, logs := sandbox(t, nil)
	put(t, h, "/sys/block/nvme0n1/nvme0n1p1/partition", []byte("1\n"))
	put(t, h, "/sys/block/nvme0n1/nvme0n1p15/partition", []byte("15\n"))
	put(t, h, "/sys/block/nvme1n1/size", []byte("100\n"))
	put(t, h, "/sys/block/nvme2n1/size", []byte("100\n"))
	put(t, h, "/sys/block/nvme3n1/size", []byte("100\n"))
	put(t, h, "/sys/block/loop0/size", []byte("0\n"))
	put(t, h, "/dev/nvme0n1.nvme-identify", identify(0x1d0f, "vol0aaaaaaaaaaaaaaaa", "Amazon Elastic Block Store", "/dev/xvda"))
	put(t, h, "/dev/nvme1n1.nvme-identify", identify(0x1d0f, "vol0bbbbbbbbbbbbbbbb", "Amazon Elastic Block Store", "sdf"))
	put(t, h, "/dev/nvme2n1.nvme-identify", identify(0x1d0f, "AWS123", "Amazon EC2 NVMe Instance Storage", "ephemeral0:sdb"))
	put(t, h, "/dev/nvme3n1.nvme-identify", identify(0x144d, "S4EW", "Samsung SSD", ""))
	put(t, h, "/dev/xvdb", nil) // a real node with the same name: left alone... (different name here)
	os.MkdirAll(filepath.Join(h.Root, "dev"), 0o755)
	os.Symlink("nvme9n1", filepath.Join(h.Root, "dev/sdf")) // stale link from an earlier attachment
	if err := rt.LinkNVMe(context.Background()); err != nil {
		t.Fatal(err)
	}
	for link, want := range map[string]string{"xvda": "nvme0n1", "xvda1": "nvme0n1p1", "xvda15": "nvme0n1p15", "sdf": "nvme1n1", "sdb": "nvme2n1"} {
		got, err := os.Readlink(filepath.Join(h.Root, "dev", link))
		if err != nil || got != want {
			t.Errorf("/dev/%s -> %q (%v), want %s\n%s", link, got, err, want, logs)
		}
	}
	if len(journal(h, "uevents")) != 1 {
		t.Errorf("no uevent subscription: %v", h.Journal())
	}
	// A second run changes nothing.
	n := len(journal(h, "symlink", "remove"))
	rt.LinkNVMe(context.Background())
	if m := len(journal(h, "symlink", "remove")); m != n {
		t.Errorf("second run made %d more changes", m-n)
	}
}

func TestDiskOf(t *testing.T) {
	for in, want := range map[[2]string]string{{"nvme1n1p2", "2"}: "nvme1n1", {"sdb2", "2"}: "sdb", {"nvme0n1p15", "15"}: "nvme0n1"} {
		n := 0
		for _, c := range in[1] {
			n = n*10 + int(c-'0')
		}
		if got := diskOf(in[0], n); got != want {
			t.Errorf("diskOf(%s) = %s, want %s", in[0], got, want)
		}
	}
}

func TestGrowRootSandbox(t *testing.T) {
	rt, _, logs := sandbox(t, nil)
	if err := rt.GrowRoot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "root volume not grown") {
		t.Errorf("logs: %s", logs)
	}
}

// ec2Fixture starts moto and a mock IMDS whose instance id is a real moto instance.
func ec2Fixture(t *testing.T) (*fixture, *ec2.Client, string) {
	t.Helper()
	f := newFixture(t, imdsmock.Config{}) // for moto; IMDS replaced below
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL"))}
	c := ec2.NewFromConfig(cfg)
	imgs, err := c.DescribeImages(f.ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("moto images: %v", err)
	}
	run, err := c.RunInstances(f.ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		Placement: &ec2types.Placement{AvailabilityZone: aws.String("us-east-1a")}})
	if err != nil {
		t.Fatalf("moto run instance: %v", err)
	}
	iid := aws.ToString(run.Instances[0].InstanceId)
	// A mock IMDS that knows the instance (newFixture would reset moto).
	mock, err := imdsmock.New(imdsmock.Config{InstanceID: iid})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	t.Setenv(imds.EndpointEnv, srv.URL)
	f.imds = imds.New(srv.URL, imds.WithDeadline(5*time.Second))
	return f, c, iid
}

func createVolume(t *testing.T, f *fixture, c *ec2.Client, az string, tags map[string]string) string {
	t.Helper()
	var tt []ec2types.Tag
	for k, v := range tags {
		tt = append(tt, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := c.CreateVolume(f.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(az), Size: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: tt}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VolumeId)
}

func TestAttachByTagsMoto(t *testing.T) {
	f, c, iid := ec2Fixture(t)
	createVolume(t, f, c, "us-east-1b", map[string]string{"app": "db"}) // wrong AZ
	createVolume(t, f, c, "us-east-1a", map[string]string{"app": "web"})
	want := createVolume(t, f, c, "us-east-1a", map[string]string{"app": "db", "env": "x"})
	rt := &Runtime{Plan: &plan.Plan{}, Host: f.host, IMDS: f.imds, AWS: NewAWS(f.imds)}
	put(t, f.host, "/dev/sdf", make([]byte, 1<<20)) // the device "appears" (hot-plug in the VM)
	v := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdf", Attachment: &plan.Attachment{TimeoutSeconds: 5,
		Tags: []plan.Tag{{Key: "app", Value: "db", HasValue: true}, {Key: "env"}}}}
	if err := rt.PrepareEBS(f.ctx, v); err != nil {
		t.Fatalf("%v\n%s", err, f.logs)
	}
	out, err := c.DescribeVolumes(f.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{want}})
	if err != nil || len(out.Volumes[0].Attachments) != 1 || aws.ToString(out.Volumes[0].Attachments[0].InstanceId) != iid || aws.ToString(out.Volumes[0].Attachments[0].Device) != "/dev/sdf" {
		t.Fatalf("attachment %+v %v\n%s", out, err, f.logs)
	}
	// Second boot: already attached, nothing else attached.
	if err := rt.PrepareEBS(f.ctx, v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.logs.String(), "is already attached to "+iid) {
		t.Fatalf("logs:\n%s", f.logs)
	}
	// The serial → volume id → attachment device source names a QEMU NVMe disk.
	put(t, f.host, "/sys/block/nvme1n1/size", []byte("2048\n"))
	put(t, f.host, "/dev/nvme1n1.nvme-identify", identify(0x1b36, strings.Replace(want, "-", "", 1), "QEMU NVMe Ctrl", ""))
	os.Remove(filepath.Join(f.host.Root, "dev/sdf"))
	if err := rt.LinkNVMe(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(f.host.Root, "dev/sdf")); err != nil || got != "nvme1n1" {
		t.Fatalf("/dev/sdf -> %q, %v\n%s", got, err, f.logs)
	}
	// No match: a clear timeout.
	v2 := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdg", Attachment: &plan.Attachment{TimeoutSeconds: 1, Tags: []plan.Tag{{Key: "app", Value: "nope", HasValue: true}}}}
	err = rt.PrepareEBS(f.ctx, v2)
	if err == nil || !strings.Contains(err.Error(), "ebs /dev/sdg: no available volume with tags app=nope in us-east-1a after 1s") {
		t.Fatalf("error = %v", err)
	}
}

// ueventHost is a sandbox whose block-device watch can be fired by the test (hot-plug).
type ueventHost struct {
	*SandboxHost
	added func(dev string, partn int)
}

func (h *ueventHost) WatchBlockDevices(ctx context.Context, added func(string, int)) error {
	h.added = added
	return nil
}

// A volume detached and attached again under another device name (a hot-plug of the same
// volume id) gets its new name: the cached volume id → device answer is not reused.
func TestLinkNVMeReattachedVolume(t *testing.T) {
	f, c, iid := ec2Fixture(t)
	vol := createVolume(t, f, c, "us-east-1a", map[string]string{"app": "db"})
	if _, err := c.AttachVolume(f.ctx, &ec2.AttachVolumeInput{Device: aws.String("/dev/sdf"), InstanceId: aws.String(iid), VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	h := &ueventHost{SandboxHost: f.host}
	rt := &Runtime{Plan: &plan.Plan{}, Host: h, IMDS: f.imds, AWS: NewAWS(f.imds)}
	put(t, f.host, "/sys/block/nvme1n1/size", []byte("2048\n"))
	put(t, f.host, "/dev/nvme1n1.nvme-identify", identify(0x1b36, strings.Replace(vol, "-", "", 1), "QEMU NVMe Ctrl", ""))
	if err := rt.LinkNVMe(f.ctx); err != nil {
		t.Fatal(err)
	}
	readlink := func(name string) string {
		got, _ := os.Readlink(filepath.Join(f.host.Root, "dev", name))
		return got
	}
	if got := readlink("sdf"); got != "nvme1n1" {
		t.Fatalf("/dev/sdf -> %q\n%s", got, f.logs)
	}
	if h.added == nil {
		t.Fatal("no uevent subscription")
	}
	// Detach, attach as /dev/sdg: the kernel announces the disk again (same kernel name).
	if _, err := c.DetachVolume(f.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(iid), Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachVolume(f.ctx, &ec2.AttachVolumeInput{Device: aws.String("/dev/sdg"), InstanceId: aws.String(iid), VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	h.added("nvme1n1", 0)
	if got := readlink("sdg"); got != "nvme1n1" {
		t.Fatalf("after re-attaching as /dev/sdg: /dev/sdg -> %q\n%s", got, f.logs)
	}
}

// The attachment's timeout bounds the attachment and the device wait together: a volume that
// takes 700ms of a 1s timeout to become available leaves 300ms for its device, not 1s more.
func TestAttachThenDeviceOneDeadline(t *testing.T) {
	f, c, _ := ec2Fixture(t)
	rt := &Runtime{Plan: &plan.Plan{}, Host: f.host, IMDS: f.imds, AWS: NewAWS(f.imds)}
	var (
		t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		fake    = t0
		created bool
	)
	oldNow, oldSleep := clockNow, sleepCtx
	t.Cleanup(func() { clockNow, sleepCtx = oldNow, oldSleep })
	clockNow = func() time.Time { return fake }
	sleepCtx = func(ctx context.Context, d time.Duration) error {
		if !created {
			// The first wait for an available volume lasts 700ms; then one shows up.
			fake = fake.Add(700 * time.Millisecond)
			createVolume(t, f, c, "us-east-1a", map[string]string{"app": "late"})
			created = true
			return nil
		}
		fake = fake.Add(d)
		return nil
	}
	v := plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdk", Attachment: &plan.Attachment{TimeoutSeconds: 1,
		Tags: []plan.Tag{{Key: "app", Value: "late", HasValue: true}}}}
	err := rt.PrepareEBS(f.ctx, v) // attached, but no device ever appears in the sandbox
	if !strings.Contains(f.logs.String(), "ebs /dev/sdk: attached vol-") {
		t.Fatalf("not attached: %v\n%s", err, f.logs)
	}
	if err == nil || !strings.Contains(err.Error(), "ebs /dev/sdk: the device did not appear within 1s") {
		t.Fatalf("error = %v", err)
	}
	if spent := fake.Sub(t0); spent > time.Second {
		t.Fatalf("attachment + device wait took %s of a 1s timeout", spent)
	}
}

// A blank disk whose mkfs fails (exit code, or killed by a signal) is an error naming the
// tool and how it ended, and nothing is mounted, chowned or chmodded.
func TestPrepareEBSMkfsFails(t *testing.T) {
	for script, want := range map[string]string{
		"echo mkfs: boom >&2; exit 3": "ebs /dev/sdf: /.easyto/sbin/mkfs.ext4 failed (exit status 3)",
		"kill -KILL $$":               "ebs /dev/sdf: /.easyto/sbin/mkfs.ext4 failed (killed by SIGKILL)",
	} {
		rt, h, logs := sandbox(t, nil)
		h.ExecRun = true
		put(t, h, "/dev/sdf", make([]byte, 1<<20))
		put(t, h, "/.easyto/sbin/mkfs.ext4", []byte("#!/bin/sh\n"+script+"\n"))
		if err := os.Chmod(filepath.Join(h.Root, ".easyto/sbin/mkfs.ext4"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := rt.PrepareEBS(context.Background(), plan.Volume{Kind: plan.KindEBS, Device: "/dev/sdf", FSType: "ext4", Destination: "/data", Mode: 0o750})
		if err == nil || err.Error() != want {
			t.Errorf("%s: error = %v, want %q\n%s", script, err, want, logs)
		}
		if runs, rest := journal(h, "run"), journal(h, "mount", "chmod", "chown"); len(runs) != 1 || len(rest) != 0 {
			t.Errorf("%s: runs %v, then %v; want one mkfs run and nothing after", script, runs, rest)
		}
	}
}
