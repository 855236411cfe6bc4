package vmrun

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/gpt"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		name    string
		console string
		expect  []string
		reject  []string
		want    int
	}{
		{"all found", "a\nPASS x\npowering off\n", []string{"PASS x", "powering off"}, nil, 0},
		{"order free", "powering off\nPASS x\n", []string{"PASS x", "powering off"}, nil, 0},
		{"missing", "PASS x\n", []string{"PASS x", "powering off"}, nil, 1},
		{"rejected", "PASS x\npanic: boom\n", []string{"PASS x"}, AlwaysReject, 1},
		{"cr and escapes", "\x1bcPASS\r\x1b[?7l x\r\n", []string{"PASS x"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verdict(tc.console, tc.expect, tc.reject); len(got) != tc.want {
				t.Errorf("problems %v, want %d", got, tc.want)
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		check   func(t *testing.T, s *Scenario)
		wantErr string
	}{
		{"defaults", map[string]string{"expect": "# c\n\nPASS a\n"}, func(t *testing.T, s *Scenario) {
			c := s.Config
			if c.Timeout.Duration != 60*time.Second || c.NICs != 1 || c.Memory != 512 || c.Boots != 1 {
				t.Errorf("defaults: %+v", c)
			}
			if !reflect.DeepEqual(s.Expect, [][]string{{"PASS a"}}) || s.UserData != nil {
				t.Errorf("expect %v, user data %q", s.Expect, s.UserData)
			}
			if !reflect.DeepEqual(s.Reject, AlwaysReject) {
				t.Errorf("reject %v", s.Reject)
			}
		}, ""},
		{"full", map[string]string{
			"scenario.toml":  "timeout = \"5s\"\nboots = 2\npowerdown_on = \"ready\"\n[imds]\nfail_first = 2\n[[disks]]\nsize = \"1M\"\n",
			"user-data.yaml": "env: []\n",
			"user-data.gz":   "",
			"expect":         "one\n",
			"boot2.expect":   "two\n",
			"reject":         "FAIL \n",
			"aws-setup.toml": "",
			"overlay/x":      "y",
		}, func(t *testing.T, s *Scenario) {
			c := s.Config
			if c.Timeout.Duration != 5*time.Second || !c.GzipUserData || !c.AWS || c.IMDS.Fail500First != 2 {
				t.Errorf("config %+v", c)
			}
			if !reflect.DeepEqual(s.Expect, [][]string{{"one"}, {"two"}}) {
				t.Errorf("expect %v", s.Expect)
			}
			if len(c.Actions) != 1 || c.Actions[0].Do != "powerdown" || c.Actions[0].On != "ready" {
				t.Errorf("actions %+v", c.Actions)
			}
			if s.Overlay == "" || s.AWSSetup == "" || string(s.UserData) != "env: []\n" || s.Reject[0] != "FAIL " {
				t.Errorf("scenario %+v", s)
			}
		}, ""},
		{"unknown key", map[string]string{"scenario.toml": "nic = 2\n"}, nil, "unknown keys"},
		{"bad duration", map[string]string{"scenario.toml": "timeout = \"soon\"\n"}, nil, "duration"},
		{"hotplug without disk", map[string]string{"scenario.toml": "[[action]]\ndo = \"hotplug\"\nafter = \"1s\"\n"}, nil, "hotplug needs disk"},
		{"action without trigger", map[string]string{"scenario.toml": "[[action]]\ndo = \"powerdown\"\n"}, nil, "needs after, on or on_attach"},
		{"per-boot reject", map[string]string{"scenario.toml": "boots = 2\n", "reject": "FAIL \n", "boot2.reject": "made ext4\n"},
			func(t *testing.T, s *Scenario) {
				if got := s.RejectFor(1); !reflect.DeepEqual(got, append([]string{"FAIL "}, AlwaysReject...)) {
					t.Errorf("boot 1 reject %v", got)
				}
				if got := s.RejectFor(2); got[len(got)-1] != "made ext4" || got[0] != "FAIL " {
					t.Errorf("boot 2 reject %v", got)
				}
			}, ""},
		{"on_attach", map[string]string{"scenario.toml": "aws = true\n[[disks]]\nsize = \"1M\"\nserial_from_volume = 0\nhotplug = true\n[[action]]\ndo = \"hotplug\"\ndisk = 0\non_attach = true\n"},
			func(t *testing.T, s *Scenario) {
				if !s.Config.Actions[0].OnAttach || !s.Config.Q35 {
					t.Errorf("config %+v", s.Config)
				}
			}, ""},
		{"on_attach without volume", map[string]string{"scenario.toml": "[[disks]]\nsize = \"1M\"\nhotplug = true\n[[action]]\ndo = \"hotplug\"\ndisk = 0\non_attach = true\n"}, nil, "on_attach needs"},
		{"disk without size", map[string]string{"scenario.toml": "[[disks]]\nserial = \"x\"\n"}, nil, "size is required"},
		{"real image, forwards, checks", map[string]string{"scenario.toml": "image = \"postgres\"\nforward = [\"tcp:5432\", \"udp:123\"]\n[[check]]\non = \"ready\"\nrun = \"true\"\npowerdown = true\n"},
			func(t *testing.T, s *Scenario) {
				c := s.Config
				if c.RootDisk == nil || *c.RootDisk != RealRootDisk {
					t.Errorf("root disk %+v, want the real-image default", c.RootDisk)
				}
				if len(c.Checks) != 1 || c.Checks[0].Timeout.Duration != 60*time.Second || !c.Checks[0].Powerdown {
					t.Errorf("checks %+v", c.Checks)
				}
			}, ""},
		{"real image keeps its root disk", map[string]string{"scenario.toml": "image = \"x\"\n[root_disk]\nsize = \"2G\"\npartition = \"1G\"\n"},
			func(t *testing.T, s *Scenario) {
				if s.Config.RootDisk.Size != "2G" {
					t.Errorf("root disk %+v", s.Config.RootDisk)
				}
			}, ""},
		{"bad image name", map[string]string{"scenario.toml": "image = \"../etc\"\n"}, nil, "want the name of a folder of tests/images"},
		{"bad forward", map[string]string{"scenario.toml": "forward = [\"5432\"]\n"}, nil, "want tcp:PORT or udp:PORT"},
		{"check without run", map[string]string{"scenario.toml": "[[check]]\non = \"ready\"\n"}, nil, "check 0: needs on and run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sc")
			for n, c := range tc.files {
				write(t, dir, n, c)
			}
			s, err := Load(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1M", 1 << 20, false}, {"2G", 2 << 30, false}, {"512K", 512 << 10, false}, {"4096", 4096, false},
		{"", 0, true}, {"-1M", 0, true}, {"xM", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
}

// TestBundledScenariosLoad keeps every scenario folder of the repository loadable.
func TestBundledScenariosLoad(t *testing.T) {
	for _, dir := range []string{"../../scenarios", "../../vm/testdata"} {
		scs, err := LoadAll(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(scs) == 0 {
			t.Fatalf("no scenarios in %s", dir)
		}
		for _, s := range scs {
			if s.AWSSetup != "" {
				if _, err := LoadAWSSetup(s.AWSSetup); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
			}
			if len(s.Expect[0]) == 0 {
				t.Errorf("%s: empty expect", s.Name)
			}
		}
	}
}

func TestQemuArgs(t *testing.T) {
	e := &Env{Proxy: "/p/vmproxy"}
	e.Assets.Vmlinuz = "/k/vmlinuz"
	sc := &Scenario{Config: Config{NICs: 2, Memory: 512}}
	args := strings.Join(e.qemuArgs(sc, bootSetup{initrd: "/i", disks: []disk{{path: "/d0", serial: "s0"}}, moto: &Moto{Port: 9}}, 7, ""), " ")
	for _, want := range []string{
		"-accel tcg -cpu max -m 512",
		"rdinit=/.easyto/sbin/init console=ttyS0 panic=-1 quiet no_timer_check AWS_EC2_METADATA_SERVICE_ENDPOINT=http://169.254.169.254 AWS_ENDPOINT_URL=http://169.254.169.2:80",
		"restrict=on,net=169.254.169.0/24,host=169.254.169.1,dhcpstart=169.254.169.15",
		"guestfwd=tcp:169.254.169.254:80-cmd:/p/vmproxy 127.0.0.1:7",
		"guestfwd=tcp:169.254.169.2:80-cmd:/p/vmproxy 127.0.0.1:9",
		"mac=52:54:00:12:34:57",
		"nvme,serial=s0,drive=d0",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(args, "q35") {
		t.Errorf("q35 without QMP: %s", args)
	}
}

func TestGPTImage(t *testing.T) {
	const sectors, p2 = 4096 + 65536 + 2048, 65536
	disk := make([]byte, sectors*512)
	for _, w := range gptImage(sectors, p2) {
		copy(disk[w.off:], w.data)
	}
	h, err := gpt.ParseHeader(disk[512:1024])
	if err != nil {
		t.Fatal(err)
	}
	tb, err := gpt.Parse(disk[512:1024], disk[h.EntriesLBA*512:int(h.EntriesLBA)*512+h.EntriesBytes()], 512)
	if err != nil {
		t.Fatal(err)
	}
	ents := tb.Entries()
	if len(ents) != 2 || ents[1].FirstLBA != rootP2First || ents[1].LastLBA != rootP2First+p2-1 {
		t.Fatalf("entries %+v", ents)
	}
	writes, last, err := tb.Grow(ents[1].Index, 4*sectors, 2048)
	if err != nil || len(writes) == 0 || last <= ents[1].LastLBA {
		t.Fatalf("grow: %d writes, last %d, %v", len(writes), last, err)
	}
}

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	sc := &Scenario{Name: "x", Dir: dir, Config: Config{Forward: []string{"tcp:5432"}}}
	e := &Env{}
	run := func(script string, timeout time.Duration) ([]string, error) {
		var lines []string
		err := e.runCheck(t.Context(), sc, Check{Run: script, Timeout: Duration{timeout}}, 2,
			bootSetup{state: dir, hostPorts: []int{40001}}, func(l string) { lines = append(lines, l) })
		return lines, err
	}
	lines, err := run(`echo "$HOST $PORT_5432 $BOOT"; echo "$STATE" | grep -q . && pwd`, 30*time.Second)
	if err != nil || !reflect.DeepEqual(lines, []string{"127.0.0.1 40001 2", dir}) {
		t.Errorf("lines %q, err %v", lines, err)
	}
	// sh -e: the first failing command fails the check
	if _, err := run("false; echo not reached", 30*time.Second); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("failing check: err = %v", err)
	}
	// bounded: a hanging check (and its children) is killed at its timeout
	if _, err := run("sleep 30 & wait", 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not finish within") {
		t.Errorf("hanging check: err = %v", err)
	}
}

func TestParseForward(t *testing.T) {
	for in, want := range map[string]Forwarded{"tcp:22": {"tcp", 22}, "udp:123": {"udp", 123}} {
		if got, err := ParseForward(in); err != nil || got != want {
			t.Errorf("ParseForward(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"22", "tcp:", "tcp:0", "tcp:70000", "sctp:22", "tcp:x"} {
		if _, err := ParseForward(in); err == nil {
			t.Errorf("ParseForward(%q): no error", in)
		}
	}
}

func TestSparseCopyAt(t *testing.T) {
	src := make([]byte, 300<<10) // zeros with data in the second and the last (short) block
	src[70<<10] = 1
	src[len(src)-1] = 2
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sparseCopyAt(f, 4096, strings.NewReader(string(src))); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4096 + int64(len(src))); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(got[4096:]) != string(src) || !allZero(got[:4096]) {
		t.Errorf("copy differs from the source")
	}
}
