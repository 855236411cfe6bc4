package vmrun

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGapVerdict(t *testing.T) {
	console := "[   4.417] info: step network: started\n\x1b[0m[  8.181] info: step network: done in 3.763s\nno stamp: step network: done\n[  9.000] later\n"
	gap := func(from, to, max string) ConsoleGap {
		d, _ := time.ParseDuration(max)
		return ConsoleGap{From: from, To: to, Max: Duration{d}}
	}
	for _, tc := range []struct {
		name string
		gaps []ConsoleGap
		want string
	}{
		{"within", []ConsoleGap{gap("step network: started", "step network: done", "4s")}, ""},
		{"exactly at the bound", []ConsoleGap{gap("step network: started", "step network: done", "3764ms")}, ""},
		{"too long (a 30 s DHCPv4 wait would be this)", []ConsoleGap{gap("step network: started", "step network: done", "3s")}, "came 3.764s after"},
		{"missing line", []ConsoleGap{gap("step network: started", "never printed", "10s")}, "no timestamped line"},
		{"untimestamped lines do not count", []ConsoleGap{gap("no stamp", "later", "10s")}, "no timestamped line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := GapVerdict(console, tc.gaps)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems %v", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("problems %v, want one with %q", got, tc.want)
			}
		})
	}
}

func TestLoadNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, toml, want, wantErr string
	}{
		{"default is the user network", "", NetUser, ""},
		{"tap-dual", `network = "tap-dual"`, NetTapDual, ""},
		{"tap-v6only with a gap", "network = \"tap-v6only\"\n[[console_gap]]\nfrom = \"a\"\nto = \"b\"\nmax = \"5s\"\n", NetTapV6, ""},
		{"unknown mode", `network = "tap-v4"`, "", `network = "tap-v4" (want user, tap-dual or tap-v6only)`},
		{"tap with two NICs", "network = \"tap-dual\"\nnics = 2\n", "", "supports one NIC"},
		{"gap without max", "[[console_gap]]\nfrom = \"a\"\nto = \"b\"\n", "", "console_gap 0: needs from, to and max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "scenario.toml", tc.toml)
			write(t, dir, "expect", "PASS\n")
			s, err := Load(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Config.Network != tc.want {
				t.Fatalf("network %q, want %q", s.Config.Network, tc.want)
			}
		})
	}
}

// In the tap modes the guest gets no IMDS endpoint (stage one must choose it), the NIC is the
// namespace's tap0, and the AWS endpoint is the subnet's family.
func TestQemuArgsTap(t *testing.T) {
	e := &Env{Proxy: "/p/vmproxy", QEMU: "/q/qemu"}
	e.Assets.Vmlinuz = "/k/vmlinuz"
	for _, tc := range []struct {
		mode, aws string
	}{{NetTapDual, "AWS_ENDPOINT_URL=http://169.254.169.2:80"}, {NetTapV6, "AWS_ENDPOINT_URL=http://aws.ipv6.test"}} {
		tn := &tapNet{mode: tc.mode, name: "bpvm-1-1"}
		sc := &Scenario{Config: Config{NICs: 1, Memory: 512, Network: tc.mode}}
		args := e.qemuArgs(sc, bootSetup{initrd: "/i", moto: &Moto{Port: 9}, tap: tn}, 7, "")
		s := strings.Join(args, " ")
		for _, want := range []string{
			"-append rdinit=/.easyto/sbin/init " + defaultAppend + " " + tc.aws + " -initrd",
			"-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:12:34:56",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: args lack %q:\n%s", tc.mode, want, s)
			}
		}
		for _, bad := range []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "guestfwd", "-netdev user"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: args have %q:\n%s", tc.mode, bad, s)
			}
		}
		cmd := tn.qemuCommand(e.QEMU, args)
		if got := strings.Join(cmd.Args[:5], " "); got != "ip netns exec bpvm-1-1 /q/qemu" {
			t.Errorf("command %q", got)
		}
	}
}

// A tap network comes up (namespace, tap0, dnsmasq) and close removes all of it.
func TestTapNetCleanup(t *testing.T) {
	if err := CheckTapTools(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("SKIPPED (not run): %v", err)
	}
	log := filepath.Join(t.TempDir(), "dnsmasq.log")
	tn, err := startTapNet(NetTapDual, log, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			tn.close()
		}
	})
	if _, err := os.Stat(filepath.Join("/run/netns", tn.name)); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	pid := tn.dnsmasq.Process.Pid
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("dnsmasq not running: %v", err)
	}
	if len(tn.lns) != 4 { // IMDS and AWS, each on IPv4 and IPv6
		t.Fatalf("%d listeners, want 4", len(tn.lns))
	}
	tn.close()
	closed = true
	if _, err := os.Stat(filepath.Join("/run/netns", tn.name)); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still there after close: %v", tn.name, err)
	}
	// dnsmasq is killed (and reaped by its waiter) within a bounded wait.
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i == 50 {
			t.Fatalf("dnsmasq (pid %d) still running after close", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
