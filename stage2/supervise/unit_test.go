package supervise

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    procStat
		kernel  bool
		wantErr bool
	}{
		{in: "1 (init) S 0 1 1 0 -1 4194560 100 0", want: procStat{Pid: 1, Comm: "init", State: 'S', PPid: 0, PGrp: 1, Flags: 4194560}},
		{in: "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0", want: procStat{Pid: 2, Comm: "kthreadd", State: 'S', Flags: 2129984}, kernel: true},
		{in: "42 (my (odd) prog) Z 1 40 40 0 -1 4194372 0", want: procStat{Pid: 42, Comm: "my (odd) prog", State: 'Z', PPid: 1, PGrp: 40, Flags: 4194372}},
		{in: "77 (a b) R 5 77 77 0 -1 0\n", want: procStat{Pid: 77, Comm: "a b", State: 'R', PPid: 5, PGrp: 77}},
		{in: "garbage", wantErr: true},
		{in: "12 (x) S 1 2", wantErr: true},
		{in: "x (y) S 1 2 3 4 5 6", wantErr: true},
	} {
		got, err := parseStat([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseStat(%q) err = %v", tc.in, err)
			continue
		}
		if tc.wantErr {
			continue
		}
		if got != tc.want || got.Kernel() != tc.kernel {
			t.Errorf("parseStat(%q) = %+v kernel=%v, want %+v kernel=%v", tc.in, got, got.Kernel(), tc.want, tc.kernel)
		}
	}
}

func TestUserProcessesSkipsSelfAndKernel(t *testing.T) {
	procs, err := userProcesses("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Pid == os.Getpid() || p.Kernel() {
			t.Fatalf("listed %+v", p)
		}
	}
}

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint64(b[0:], 1700000000)
	binary.LittleEndian.PutUint64(b[8:], 123456)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestParseInputEvents(t *testing.T) {
	join := func(bs ...[]byte) []byte {
		return []byte(strings.Join(func() []string {
			var s []string
			for _, b := range bs {
				s = append(s, string(b))
			}
			return s
		}(), ""))
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		n       int
		press   bool
		wantErr bool
	}{
		{"press+syn", join(event(evKey, keyPower, 1), event(0, 0, 0)), 2, true, false},
		{"release", event(evKey, keyPower, 0), 1, false, false},
		{"autorepeat", event(evKey, keyPower, 2), 1, false, false},
		{"other key", event(evKey, 30, 1), 1, false, false},
		{"not a key event", event(0x04, keyPower, 1), 1, false, false},
		{"partial", event(evKey, keyPower, 1)[:20], 0, false, true},
		{"empty", nil, 0, false, false},
	} {
		evs, err := ParseInputEvents(tc.in)
		if (err != nil) != tc.wantErr || len(evs) != tc.n {
			t.Errorf("%s: %d events, err %v", tc.name, len(evs), err)
			continue
		}
		press := false
		for _, e := range evs {
			press = press || e.IsPowerPress()
		}
		if press != tc.press {
			t.Errorf("%s: press = %v", tc.name, press)
		}
	}
	evs, _ := ParseInputEvents(event(evKey, keyPower, 1))
	if e := evs[0]; e.Sec != 1700000000 || e.Usec != 123456 || e.Type != evKey || e.Code != keyPower || e.Value != 1 {
		t.Errorf("decoded %+v", e)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 60 * time.Second, Reset: 60 * time.Second}
	var got []string
	for _, up := range []time.Duration{0, time.Second, 0, 0, 0, 0, 0, 0, 0, 2 * time.Minute, 0} {
		got = append(got, b.Next(up).String())
	}
	want := "1s 2s 4s 8s 16s 32s 1m0s 1m0s 1m0s 1s 2s"
	if strings.Join(got, " ") != want {
		t.Fatalf("delays %v, want %s", got, want)
	}
}

func TestParseSpotNotice(t *testing.T) {
	for _, tc := range []struct {
		in, action string
		ok         bool
	}{
		{`{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`, "terminate", true},
		{`{"action":"stop","time":"2017-09-18T08:22:00Z"}`, "stop", true},
		{`{"action":"hibernate"}`, "", false},
		{`not json`, "", false},
	} {
		n, err := ParseSpotNotice([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && n.Action != tc.action) {
			t.Errorf("ParseSpotNotice(%q) = %+v, %v", tc.in, n, err)
		}
	}
}

type fakeUnmount struct {
	calls []string
	busy  map[string]int // failures left per target
}

func (f *fakeUnmount) Unmount(target string, flags int) error {
	f.calls = append(f.calls, fmt.Sprintf("%s:%d", target, flags))
	if flags == 0 && f.busy[target] > 0 {
		f.busy[target]--
		return fmt.Errorf("umount %s: %w", target, unix.EBUSY)
	}
	if target == "/notmounted" {
		return unix.EINVAL
	}
	return nil
}

func TestUnmountVolumes(t *testing.T) {
	vols := []plan.Volume{
		{Kind: plan.KindEBS, Destination: "/a"},
		{Kind: plan.KindS3, Destination: "/s3"},
		{Kind: plan.KindEBS},
		{Kind: plan.KindEBS, Destination: "/notmounted"},
		{Kind: plan.KindEBS, Destination: "/b"},
		{Kind: plan.KindEBS, Destination: "/stuck"},
	}
	f := &fakeUnmount{busy: map[string]int{"/b": 2, "/stuck": 100}}
	sleeps := 0
	unmountVolumes(f, vols, func(time.Duration) { sleeps++ })
	want := "/stuck:0 /stuck:0 /stuck:0 /stuck:0 /stuck:0 /stuck:2 /b:0 /b:0 /b:0 /notmounted:0 /a:0"
	if got := strings.Join(f.calls, " "); got != want {
		t.Fatalf("calls\n got %s\nwant %s", got, want)
	}
	if sleeps != 4+2 {
		t.Fatalf("sleeps = %d", sleeps)
	}
}

func TestErrnoText(t *testing.T) {
	err := fmt.Errorf("start /nope: %w", syscall.ENOENT)
	if got := errnoText(err); got != "No such file or directory" {
		t.Fatalf("got %q", got)
	}
	if got := errnoText(errors.New("plain")); got != "plain" {
		t.Fatalf("got %q", got)
	}
}

func TestSignalsQueueAndShutdown(t *testing.T) {
	s := &Signals{down: make(chan struct{}), more: make(chan struct{}, 1)}
	s.deliver(unix.SIGHUP)
	s.deliver(unix.SIGUSR1)
	select {
	case <-s.ShutdownRequested():
		t.Fatal("shutdown without a shutdown signal")
	default:
	}
	s.deliver(unix.SIGPWR)
	s.deliver(unix.SIGTERM)
	<-s.ShutdownRequested()
	if s.ShutdownSignal() != unix.SIGPWR {
		t.Fatalf("first shutdown signal = %v", s.ShutdownSignal())
	}
	if q := s.Take(); len(q) != 2 || q[0] != unix.SIGHUP || q[1] != unix.SIGUSR1 {
		t.Fatalf("queued %v", q)
	}
	if signalName(sigRTMIN4) == "" || signalName(unix.SIGTERM) != "SIGTERM" {
		t.Fatalf("names %q %q", signalName(sigRTMIN4), signalName(unix.SIGTERM))
	}
}

// Main reboots instead of powering off exactly when the plan's command.reboot is set.
func TestMainConfigRebootFromPlan(t *testing.T) {
	for _, reboot := range []bool{false, true} {
		p := &plan.Plan{Command: plan.Command{Reboot: reboot}}
		c := mainConfig(p, nil, nil, &Signals{}, nil)
		if c.Reboot != reboot || c.Plan != p || !c.PowerButton {
			t.Errorf("plan reboot=%v: config reboot=%v power button=%v", reboot, c.Reboot, c.PowerButton)
		}
		var asked []bool
		c.PowerOff = func(r bool) { asked = append(asked, r) }
		s := New(c)
		s.cfg.PowerOff(s.cfg.Reboot)
		if len(asked) != 1 || asked[0] != reboot {
			t.Errorf("plan reboot=%v: PowerOff hook asked %v", reboot, asked)
		}
	}
}

func TestGraceFromPlan(t *testing.T) {
	withGrace := func(s int) *plan.Plan { return &plan.Plan{Command: plan.Command{ShutdownGrace: s}} }
	for _, tc := range []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"plan 20s", Config{Plan: withGrace(20)}, 20 * time.Second},
		{"plan 0 means no grace", Config{Plan: withGrace(0)}, 0},
		{"no plan", Config{}, DefaultGrace},
		{"explicit config wins", Config{Plan: withGrace(20), Grace: time.Second}, time.Second},
	} {
		tc.cfg.Signals = &Signals{}
		if got := New(tc.cfg).grace; got != tc.want {
			t.Errorf("%s: grace = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A mount point inside another one is unmounted first whatever the plan order (stage two
// mounts the outer one first): unmounting /data while /data/sub is mounted fails (busy) and
// ends in a lazy detach instead of a clean unmount before the power-off.
func TestUnmountVolumesInnerFirst(t *testing.T) {
	vols := []plan.Volume{
		{Kind: plan.KindEBS, Destination: "/data/sub"},
		{Kind: plan.KindEBS, Destination: "/logs"},
		{Kind: plan.KindEBS, Destination: "/data"},
		{Kind: plan.KindEBS, Destination: "/data/sub/deeper/"},
		{Kind: plan.KindEBS, Destination: "/other"},
	}
	f := &fakeUnmount{}
	unmountVolumes(f, vols, func(time.Duration) {})
	want := "/data/sub/deeper:0 /data/sub:0 /other:0 /data:0 /logs:0"
	if got := strings.Join(f.calls, " "); got != want {
		t.Fatalf("calls\n got %s\nwant %s", got, want)
	}
}

// hungSyncHost is a sandbox whose sync(2) never returns (a stuck disk behind a dirty page).
type hungSyncHost struct {
	*stage2.SandboxHost
	block chan struct{}
}

func (h hungSyncHost) Sync() { <-h.block }

// A sync that hangs does not stop the shutdown: after FinishTimeout the volumes are still
// unmounted and / remounted read-only (without a second sync that would hang too).
func TestFinishGoesOnAfterAHungSync(t *testing.T) {
	sb, err := stage2.NewSandboxHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := hungSyncHost{SandboxHost: sb, block: make(chan struct{})}
	t.Cleanup(func() { close(h.block) })
	var buf bytes.Buffer
	console.SetOutput(&buf)
	t.Cleanup(func() { console.SetOutput(os.Stderr) })
	s := New(Config{Host: h, Signals: &Signals{down: make(chan struct{}), more: make(chan struct{}, 1)},
		Plan:          &plan.Plan{Volumes: []plan.Volume{{Kind: plan.KindEBS, Destination: "/data"}}},
		FinishTimeout: time.Millisecond})
	s.finish()
	var ops []string
	for _, e := range sb.Journal() {
		ops = append(ops, strings.TrimSpace(e.Op+" "+e.Detail))
	}
	if got := strings.Join(ops, "; "); got != "unmount /data; remount / read-only" {
		t.Errorf("journal %q", got)
	}
	if !strings.Contains(buf.String(), "shutdown: sync did not finish in 1ms (a hung disk or filesystem?); going on") {
		t.Errorf("no warning:\n%s", buf.String())
	}
}
