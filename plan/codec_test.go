package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullPlan has every field set (non-zero), so the round trip covers the whole schema.
func fullPlan() *Plan {
	return &Plan{
		Version: Version,
		Debug:   true,
		Source: Source{UserData: true, UserDataSHA256: "ab", MetadataSHA256: "cd",
			CompiledAt: time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), Compiler: "bootplan x", Warnings: []string{"w1", "w \"2\""}},
		Network: Network{Configured: true, Interface: "eth0", MAC: "02:00:00:00:00:01", Address: "10.0.0.5/24",
			Gateway: "10.0.0.1", MTU: 9001, DNS: []string{"10.0.0.2"}, Domain: "ec2.internal", Search: []string{"a", "b"},
			Routes: []Route{{Destination: "10.1.0.0/16", Gateway: "10.0.0.1"}}, Hostname: "ip-10-0-0-5", DHCPServer: "10.0.0.1",
			LeaseSeconds: 3600, IMDSEndpoint: "http://169.254.169.254", OtherIfaces: []string{"eth1"},
			Families: []string{"ipv4", "ipv6"}, IPv6: &Network6{Addresses: []string{"fd00:ec2::1a0/128"}, Gateway: "fe80::1",
				DNS: []string{"fd00:ec2::253"}, Search: []string{"ec2.internal"}, DHCPv6Server: "DUID-LL{HWType=Ethernet HWAddr=02:00:00:00:00:01}", LeaseSeconds: 3600}},
		Command: Command{Argv: []string{"/bin/app", "$(X)", "with space", ""}, WorkingDir: "/srv", UID: 1, GID: 2,
			Groups: []uint32{3, 4}, ReplaceInit: true, ReadonlyRoot: true, ShutdownGrace: 7,
			Reboot: true},
		Env:     []EnvVar{{Name: "A", Value: "a\nb\"c\\"}, {Name: "B", Value: "", Literal: true}},
		EnvFrom: []EnvFrom{{Kind: KindIMDS, Name: "IP", Path: "local-ipv4", Optional: true}, {Kind: KindS3, Bucket: "b", Key: "k", Base64: true}, {Kind: KindSSM, Path: "/p"}, {Kind: KindSecretsManager, SecretID: "s", Name: "S"}},
		Volumes: []Volume{
			{Kind: KindEBS, Destination: "/d", Optional: true, UID: 5, GID: 6, Mode: 0o750, ModeGiven: true, UIDGiven: true, GIDGiven: true, Device: "/dev/sdf", FSType: "xfs",
				MountOptions: []string{"noatime"}, Attachment: &Attachment{Tags: []Tag{{Key: "k", Value: "v", HasValue: true}, {Key: "e"}}, TimeoutSeconds: 9}},
			{Kind: KindS3, Destination: "/s", Mode: 0o644, Bucket: "b", KeyPrefix: "p/"},
			{Kind: KindSSM, Destination: "/m", Mode: 0o600, Path: "/x"},
			{Kind: KindSecretsManager, Destination: "/sec", Mode: 0o600, SecretID: "id"},
			{Kind: KindTemplate, Destination: "/t", Mode: 0o644, Content: "{{a}}\n", Variables: `{"a":"$(A)"}`},
		},
		Modules:     []Module{{Name: "m", Params: []string{"a=1"}}},
		Sysctls:     []Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}},
		InitScripts: []InitScript{{Content: "#!/bin/sh\necho hi\n"}},
		Services:    []Service{{Name: "chrony", Enabled: true, Argv: ChronyArgv}, {Name: "foo", Reason: "unknown service", Optional: true}},
	}
}

func TestRoundTripFullPlan(t *testing.T) {
	p := fullPlan()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// every field must be non-zero, or the round trip proves less than it claims
	checkNonZero(t, reflect.ValueOf(*p), "Plan")
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# bootplan boot plan") {
		t.Errorf("no header comment:\n%s", b)
	}
	q, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Errorf("round trip differs:\n%+v\n%+v", p, q)
	}
	// empty lists come back nil, and zero plans round-trip too
	for _, p := range []*Plan{{Version: 1}, {Version: 1, Env: []EnvVar{}, Command: Command{Argv: []string{}}}} {
		b, _ := Encode(p)
		q, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		p.normalize()
		if !reflect.DeepEqual(p, q) {
			t.Errorf("round trip differs:\n%+v\n%+v", p, q)
		}
	}
}

func checkNonZero(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			break
		}
		for i := 0; i < v.NumField(); i++ {
			checkNonZero(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
		return
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty in fullPlan", path)
		}
		// at least one element has each field set
		if v.Len() > 0 && v.Index(0).Kind() == reflect.Struct && v.Type().Elem() != reflect.TypeOf(Volume{}) &&
			v.Type().Elem() != reflect.TypeOf(EnvFrom{}) && v.Type().Elem() != reflect.TypeOf(Service{}) &&
			v.Type().Elem() != reflect.TypeOf(EnvVar{}) && v.Type().Elem() != reflect.TypeOf(Tag{}) {
			checkNonZero(t, v.Index(0), path+"[0]")
		}
		return
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil in fullPlan", path)
			return
		}
		checkNonZero(t, v.Elem(), path)
		return
	}
	if v.IsZero() {
		t.Errorf("%s is zero in fullPlan", path)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"version = 2\n", "plan version 2 is not supported by this bootplan (supports 1): rebuild the image or recompile the plan"},
		{"debug = true\n", "plan has no version key"},
		{"version = 1\nsurprise = 3\n[command]\nargv=[\"/x\"]\nfoo=1\n", "plan has unknown keys command.foo, surprise"},
		{"version = 1\n[[volume]]\nmode = \"99\"\n", "invalid mode"},
		{"version = [\n", "plan is not valid TOML"},
	} {
		_, err := Decode([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

// TestReadFile: the atomic write itself (mode, no temporary left) is internal/fsutil's test.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.toml")
	p := fullPlan()
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Error("ReadFile(Encode(p)) != p")
	}
	os.WriteFile(path, []byte("version = 1\nbogus = 1\n"), 0o600)
	if _, err := ReadFile(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("ReadFile error should name the file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(p *Plan)
		want string
	}{
		{"ok", func(p *Plan) {}, ""},
		{"version", func(p *Plan) { p.Version = 3 }, "version: is 3"},
		{"argv", func(p *Plan) { p.Command.Argv = nil }, "command.argv: must not be empty"},
		{"argv0", func(p *Plan) { p.Command.Argv = []string{""} }, "command.argv[0]: must not be empty"},
		{"wd", func(p *Plan) { p.Command.WorkingDir = "srv" }, "command.working_dir: must be an absolute path"},
		{"grace", func(p *Plan) { p.Command.ShutdownGrace = -1 }, "shutdown_grace_seconds: must not be negative"},
		{"env", func(p *Plan) { p.Env[0].Name = "A=B" }, "env[0].name"},
		{"env-from kind", func(p *Plan) { p.EnvFrom[0].Kind = "http" }, `env_from[0].kind: unknown kind "http"`},
		{"env-from imds path", func(p *Plan) { p.EnvFrom[0].Path = "" }, "env_from[0].path: is required for kind imds"},
		{"env-from s3", func(p *Plan) { p.EnvFrom[1].Key = "" }, "env_from[1].key"},
		{"env-from ssm", func(p *Plan) { p.EnvFrom[2].Path = "" }, "env_from[2].path"},
		{"env-from sm", func(p *Plan) { p.EnvFrom[3].SecretID = "" }, "env_from[3].secret_id"},
		{"volume kind", func(p *Plan) { p.Volumes[0].Kind = "nfs" }, `volume[0].kind: unknown kind "nfs"`},
		{"ebs device", func(p *Plan) { p.Volumes[0].Device = "sdf" }, "volume[0].device"},
		{"ebs fs", func(p *Plan) { p.Volumes[0].FSType = "ext5" }, `volume[0].fs_type: unsupported filesystem "ext5"`},
		{"ebs unmounted with fs", func(p *Plan) { p.Volumes[0].Destination = "" }, "volume[0].destination: is required when fs_type"},
		{"ebs timeout", func(p *Plan) { p.Volumes[0].Attachment.TimeoutSeconds = 0 }, "timeout_seconds: must be positive"},
		{"ebs tag", func(p *Plan) { p.Volumes[0].Attachment.Tags[1].Value = "x" }, "has_value is false"},
		{"s3 dest", func(p *Plan) { p.Volumes[1].Destination = "" }, "volume[1].destination: must not be empty"},
		{"s3 bucket", func(p *Plan) { p.Volumes[1].Bucket = "" }, "volume[1].bucket"},
		{"ssm", func(p *Plan) { p.Volumes[2].Path = "" }, "volume[2].path"},
		{"sm", func(p *Plan) { p.Volumes[3].SecretID = "" }, "volume[3].secret_id"},
		{"template vars", func(p *Plan) { p.Volumes[4].Variables = "[1]" }, "variables_json"},
		{"mode", func(p *Plan) { p.Volumes[4].Mode = 0o17777 }, "volume[4].mode: out of range"},
		{"module", func(p *Plan) { p.Modules[0].Name = "a b" }, "module[0].name"},
		{"sysctl", func(p *Plan) { p.Sysctls[0].Name = "net..x" }, "sysctl[0].name"},
		{"script", func(p *Plan) { p.InitScripts[0].Content = "" }, "init_script[0].content"},
		{"service dup", func(p *Plan) { p.Services[1].Name = "chrony" }, "duplicate service"},
		{"service argv", func(p *Plan) { p.Services[0].Argv = nil }, "service[0].argv"},
		{"service reason", func(p *Plan) { p.Services[1].Reason = "" }, "service[1].reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fullPlan()
			tc.mod(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSummaryRedacts(t *testing.T) {
	p := fullPlan()
	p.Env = []EnvVar{{Name: "LOG_LEVEL", Value: "supersecret"}}
	s := p.Summary(false)
	if strings.Contains(s, "supersecret") || !strings.Contains(s, "LOG_LEVEL=<redacted>") {
		t.Errorf("summary does not redact:\n%s", s)
	}
	if s := p.Summary(true); !strings.Contains(s, "LOG_LEVEL=supersecret") {
		t.Errorf("summary -reveal does not reveal:\n%s", s)
	}
	for _, want := range []string{"command:     /bin/app '$(X)' 'with space' ''", "uid 1, gid 2, groups 3,4", "working dir: /srv",
		"imds meta-data/local-ipv4 -> IP (optional)", "ebs /dev/sdf (attach tags k=v,e, timeout 9s) -> /d xfs (noatime) 5:6 0750 optional",
		"modules:     m a=1", "net.ipv4.ip_forward = 1", "[0] #!/bin/sh (18 bytes)", "foo: disabled (unknown service)",
		"eth0, 10.0.0.5/24", "warnings:",
		"options:     replace-init (exec, no supervisor), reboot at shutdown, read-only root, shutdown grace 7s, debug"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// An EBS root's mode or owner that user data did not give is only for a new filesystem.
	p.Volumes[0].UIDGiven, p.Volumes[0].ModeGiven = false, false
	if s := p.Summary(false); !strings.Contains(s, "-> /d xfs (noatime) 5:6 0750 (uid, mode only on a new filesystem) optional") {
		t.Errorf("summary does not say what is kept:\n%s", s)
	}
	p.Command.Reboot = false
	if s := p.Summary(false); strings.Contains(s, "reboot") {
		t.Errorf("summary mentions reboot when the plan powers off:\n%s", s)
	}
	if r := p.Redact(); r.Env[0].Value != Redacted || p.Env[0].Value != "supersecret" {
		t.Error("Redact must copy, not modify")
	}
}

// bootplan show prints both families, the IMDS endpoint, and says when IPv6 is SLAAC only.
func TestSummaryNetworkFamilies(t *testing.T) {
	p := fullPlan()
	s := p.Summary(false)
	want := "network:     eth0, 10.0.0.5/24, gateway 10.0.0.1, dns 10.0.0.2, hostname ip-10-0-0-5, mtu 9001, " +
		"ipv6 fd00:ec2::1a0/128 gateway fe80::1 dns fd00:ec2::253, imds http://169.254.169.254\n"
	if !strings.Contains(s, want) {
		t.Errorf("summary lacks %q:\n%s", want, s)
	}
	p.Network = Network{Configured: true, Interface: "eth0", Families: []string{"ipv6"}, IMDSEndpoint: "http://[fd00:ec2::254]",
		IPv6: &Network6{Addresses: []string{"2001:db8::5054:ff:fe12:3456/64"}, Gateway: "fe80::1"}}
	want = "network:     eth0, ipv6 2001:db8::5054:ff:fe12:3456/64 gateway fe80::1 (SLAAC), imds http://[fd00:ec2::254]\n"
	if s := p.Summary(false); !strings.Contains(s, want) {
		t.Errorf("IPv6-only summary lacks %q:\n%s", want, s)
	}
}
