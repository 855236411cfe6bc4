package stage2

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/plan"
)

func TestHomeFor(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n#old:x:999:999::/old:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\nnohome:x:1001:1001::::\n")
	tests := []struct {
		uid  uint32
		want string
	}{
		{0, "/root"},
		{999, "/var/lib/postgresql"}, // the commented-out line is not an entry
		{1001, "/"},                  // empty home
		{4242, "/"},                  // no entry
	}
	for _, tt := range tests {
		if got := HomeFor(passwd, tt.uid); got != tt.want {
			t.Errorf("HomeFor(uid %d) = %q, want %q", tt.uid, got, tt.want)
		}
	}
	if got := HomeFor(nil, 0); got != "/" {
		t.Errorf("HomeFor(no passwd) = %q, want /", got)
	}
}

func TestNofileFor(t *testing.T) {
	tests := []struct {
		nrOpen string
		want   uint64
	}{
		{"1048576\n", 1048576},
		{"4194304\n", NofileLimit}, // higher nr_open: still the runtimes' value
		{"65536\n", 65536},         // the kernel allows no more
		{"", NofileLimit},          // unreadable
		{"junk", NofileLimit},
	}
	for _, tt := range tests {
		if got := NofileFor([]byte(tt.nrOpen)); got != tt.want {
			t.Errorf("NofileFor(%q) = %d, want %d", tt.nrOpen, got, tt.want)
		}
	}
}

func TestMergeHosts(t *testing.T) {
	want := WantedHosts("10.0.1.5/24", "ip-10-0-1-5.ec2.internal")
	tests := []struct {
		name, existing, want string
		changed              bool
	}{
		{"none", "", "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.1.5\tip-10-0-1-5.ec2.internal ip-10-0-1-5\n", true},
		{"image's lines kept, missing added",
			"# mine\n127.0.0.1 localhost myapp\n192.168.9.9 db",
			"# mine\n127.0.0.1 localhost myapp\n192.168.9.9 db\n::1\tlocalhost\n10.0.1.5\tip-10-0-1-5.ec2.internal ip-10-0-1-5\n", true},
		{"all there (other spellings)",
			"127.0.0.1\tLOCALHOST\n0:0:0:0:0:0:0:1 localhost ip6-localhost\n10.0.1.5 ip-10-0-1-5 ip-10-0-1-5.ec2.internal # here\n",
			"127.0.0.1\tLOCALHOST\n0:0:0:0:0:0:0:1 localhost ip6-localhost\n10.0.1.5 ip-10-0-1-5 ip-10-0-1-5.ec2.internal # here\n", false},
		{"a name in a comment does not count",
			"127.0.0.1 localhost\n::1 localhost\n# 10.0.1.5 ip-10-0-1-5.ec2.internal ip-10-0-1-5\n",
			"127.0.0.1 localhost\n::1 localhost\n# 10.0.1.5 ip-10-0-1-5.ec2.internal ip-10-0-1-5\n10.0.1.5\tip-10-0-1-5.ec2.internal ip-10-0-1-5\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := MergeHosts([]byte(tt.existing), want)
			if string(got) != tt.want || changed != tt.changed {
				t.Errorf("MergeHosts =\n%s(changed %v), want\n%s(changed %v)", got, changed, tt.want, tt.changed)
			}
		})
	}
	// No hostname (IMDS had none): localhost only.
	if got, _ := MergeHosts(nil, WantedHosts("10.0.1.5/24", "")); string(got) != "127.0.0.1\tlocalhost\n::1\tlocalhost\n" {
		t.Errorf("no hostname: %q", got)
	}
}

// The boot as a whole (sandbox host): the files appear before the init scripts run, an
// image's own /etc/hostname is kept, PID 1 raises the open-files limit, and the command
// (not the init scripts) gets HOME from the run-as user's passwd entry.
func TestReplayContainerParity(t *testing.T) {
	for _, tc := range []struct {
		name         string
		hostname     string // the image's /etc/hostname, "" = none
		env          []plan.EnvVar
		wantHome     string
		wantHostname string
	}{
		{"defaults", "", nil, "/var/lib/postgresql", "ip-10-0-1-5.ec2.internal\n"},
		{"image and user data set them", "image-host\n", []plan.EnvVar{{Name: "HOME", Value: "/srv"}}, "/srv", "image-host\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h, err := NewSandboxHost(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			h.ExecRun = true
			write := func(p, s string, mode os.FileMode) {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, p), []byte(s), mode); err != nil {
					t.Fatal(err)
				}
			}
			write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n", 0o644)
			write("/etc/hosts", "127.0.0.1 localhost\n", 0o640)
			write("/proc/sys/fs/nr_open", "1048576\n", 0o644)
			if tc.hostname != "" {
				write("/etc/hostname", tc.hostname, 0o644)
			}
			write("/bin/app", "#!/bin/sh\n", 0o755)
			p := &plan.Plan{
				Version: plan.Version,
				Command: plan.Command{Argv: []string{"/bin/app"}, WorkingDir: "/", UID: 999, GID: 999},
				Network: plan.Network{Address: "10.0.1.5/24", Hostname: "ip-10-0-1-5.ec2.internal"},
				Env:     tc.env,
				// Runs after container-files: /etc/hosts is complete; no HOME from parity.
				InitScripts: []plan.InitScript{{Content: "#!/bin/sh\ngrep -q '^10.0.1.5' ./etc/hosts && echo \"home=${HOME-unset}\" > ./script-saw\n"}},
			}
			rt := &Runtime{Plan: p, Host: h}
			cmd, err := Execute(context.Background(), rt)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			read := func(p string) string {
				b, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			if got, want := read("/etc/hosts"), "127.0.0.1 localhost\n::1\tlocalhost\n10.0.1.5\tip-10-0-1-5.ec2.internal ip-10-0-1-5\n"; got != want {
				t.Errorf("/etc/hosts = %q, want %q", got, want)
			}
			if fi, err := os.Stat(filepath.Join(dir, "/etc/hosts")); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("/etc/hosts mode changed: %v %v", fi.Mode(), err)
			}
			if got := read("/etc/hostname"); got != tc.wantHostname {
				t.Errorf("/etc/hostname = %q, want %q", got, tc.wantHostname)
			}
			wantSaw := "home=unset\n"
			if tc.env != nil {
				wantSaw = "home=/srv\n"
			}
			if got := read("/script-saw"); got != wantSaw {
				t.Errorf("init script saw %q, want %q", got, wantSaw)
			}
			var homes []string
			for _, e := range cmd.Env {
				if strings.HasPrefix(e, "HOME=") {
					homes = append(homes, e)
				}
			}
			if len(homes) != 1 || homes[0] != "HOME="+tc.wantHome {
				t.Errorf("command HOME entries %v, want [HOME=%s]", homes, tc.wantHome)
			}
			if j := FormatJournal(h.Journal()); !regexp.MustCompile(`rlimit +NOFILE=1048576\n`).MatchString(j) {
				t.Errorf("journal has no rlimit NOFILE=1048576:\n%s", j)
			}
		})
	}
}
