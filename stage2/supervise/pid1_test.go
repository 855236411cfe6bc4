package supervise

// These tests run a supervisor as PID 1 of a PID namespace (and a private mount namespace
// with its own /proc) that the test creates: the test binary re-executes itself with
// CLONE_NEWPID|CLONE_NEWNS and helperEnv naming the mode. Nothing here can reboot the test
// machine or signal its processes: the helper refuses to run unless it is PID 1, the
// power-off is a hook that prints a line and exits, and the sandbox host records sync,
// unmount and remount instead of doing them.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/internal/testneed"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
	"golang.org/x/sys/unix"
)

const (
	helperEnv    = "BOOTPLAN_SUPERVISE_HELPER"
	helperCfgEnv = "BOOTPLAN_SUPERVISE_HELPER_CFG"
	spawnEnv     = "BOOTPLAN_SUPERVISE_SPAWN"
)

func TestMain(m *testing.M) {
	if n := os.Getenv(spawnEnv); n != "" {
		spawnAndLeave(n)
		return
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		if os.Getpid() != 1 {
			fmt.Println("helper: refusing to run: not PID 1 of a namespace")
			os.Exit(2)
		}
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// spawnAndLeave starts n children that exit at once and exits without waiting for them:
// they become orphans (zombies reparented to PID 1).
func spawnAndLeave(n string) {
	count, _ := strconv.Atoi(n)
	for i := 0; i < count; i++ {
		if _, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{}); err != nil {
			fmt.Fprintf(os.Stderr, "spawn %d: %v\n", i, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// helperConfig is what the outer test asks the PID 1 helper to do.
type helperConfig struct {
	Main           []string
	GraceMS        int
	Services       []plan.Service
	IMDS           string
	SpotMS         int
	RestartBaseMS  int
	RestartCapMS   int
	RestartResetMS int
	Volumes        []plan.Volume
	Orphans        int
	Reboot         bool // the plan's command.reboot
	// Files are created in the sandbox (path → content; a path ending in / is a directory).
	Files map[string]string
	// Keygen replaces ssh-keygen (a shell script), bounded by KeygenTimeoutMS when set.
	Keygen          string
	KeygenTimeoutMS int
	ReadonlyRoot    bool // security.readonly-root-fs
}

func setupNamespace() error {
	// Private propagation first, so the /proc mount never leaks into the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

func runHelper(mode string) int {
	if err := setupNamespace(); err != nil {
		fmt.Println("helper:", err)
		return 2
	}
	var cfg helperConfig
	if err := json.Unmarshal([]byte(os.Getenv(helperCfgEnv)), &cfg); err != nil {
		fmt.Println("helper: config:", err)
		return 2
	}
	console.SetOutput(os.Stdout)
	switch mode {
	case "orphans":
		return helperOrphans(cfg)
	case "supervise":
		return helperSupervise(cfg)
	case "stuck-step":
		return helperStuckStep()
	}
	fmt.Println("helper: unknown mode", mode)
	return 2
}

func zombies() (n int) {
	procs, _ := userProcesses("/proc", os.Getpid())
	for _, p := range procs {
		if p.State == 'Z' {
			n++
		}
	}
	return n
}

func helperOrphans(cfg helperConfig) int {
	r := reaper.New()
	start := time.Now()
	exe, _ := os.Executable()
	_, c, err := r.Start(exe, []string{exe}, &syscall.ProcAttr{
		Env:   []string{spawnEnv + "=" + strconv.Itoa(cfg.Orphans)},
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	select {
	case st := <-c:
		fmt.Printf("spawner %s\n", st)
	case <-time.After(60 * time.Second):
		fmt.Println("spawner did not finish")
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitAll(ctx); err != nil {
		fmt.Println("helper:", err)
	}
	fmt.Printf("RESULT orphans=%d reaped=%d zombies=%d live=%d elapsed_ms=%d\n", r.Orphans(), r.Reaped(), zombies(), r.Live(),
		time.Since(start).Milliseconds())
	return 0
}

// newSandbox makes the sandbox root a helper's host works in.
func newSandbox() (*stage2.SandboxHost, string, error) {
	dir, err := os.MkdirTemp("", "supervise-sandbox")
	if err != nil {
		return nil, "", err
	}
	h, err := stage2.NewSandboxHost(dir)
	return h, dir, err
}

func helperSupervise(cfg helperConfig) int {
	sigs := CatchSignals()
	r := reaper.New()
	host, dir, err := newSandbox()
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	for name, content := range cfg.Files {
		full := dir + name
		err := os.MkdirAll(full[:strings.LastIndex(full, "/")], 0o755)
		if err == nil && !strings.HasSuffix(name, "/") {
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			fmt.Println("helper:", err)
			return 1
		}
	}
	if cfg.Keygen != "" {
		sshKeygen = dir + "/ssh-keygen"
		if err := os.WriteFile(sshKeygen, []byte("#!/bin/sh\n"+cfg.Keygen+"\n"), 0o755); err != nil {
			fmt.Println("helper:", err)
			return 1
		}
	}
	if cfg.KeygenTimeoutMS > 0 {
		keygenTimeout = time.Duration(cfg.KeygenTimeoutMS) * time.Millisecond
	}
	p := &plan.Plan{Version: plan.Version, Services: cfg.Services, Volumes: cfg.Volumes,
		Command: plan.Command{Reboot: cfg.Reboot, ReadonlyRoot: cfg.ReadonlyRoot}}
	var im *imds.Client
	if cfg.IMDS != "" {
		im = imds.New(cfg.IMDS, imds.WithDeadline(2*time.Second), imds.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	}
	yes := true
	done := make(chan struct{})
	// Main's configuration for this plan, with the test's timings and hooks; never the real
	// power button.
	c := mainConfig(p, host, r, sigs, im)
	c.PowerButton = false
	c.Grace = time.Duration(cfg.GraceMS) * time.Millisecond
	c.SpotInterval = time.Duration(cfg.SpotMS) * time.Millisecond
	c.RestartBase = time.Duration(cfg.RestartBaseMS) * time.Millisecond
	c.RestartCap = time.Duration(cfg.RestartCapMS) * time.Millisecond
	c.RestartReset = time.Duration(cfg.RestartResetMS) * time.Millisecond
	c.KillOthers = &yes
	c.PowerOff = func(reboot bool) {
		var ops []string
		for _, e := range host.Journal() {
			ops = append(ops, strings.TrimSpace(e.Op+" "+e.Detail))
		}
		fmt.Printf("JOURNAL %s\n", strings.Join(ops, "; "))
		fmt.Printf("POWEROFF reboot=%v zombies=%d\n", reboot, zombies())
		close(done)
	}
	c.Fail = func(f console.Failure) {
		fmt.Printf("FAIL step=%s err=%v zombies=%d\n", f.Step, f.Err, zombies())
		close(done)
	}
	sup := New(c)
	if cfg.SpotMS == 0 {
		sup.cfg.SpotInterval = -1
	}
	sup.Run(stage2.Cmd{Path: cfg.Main[0], Args: cfg.Main, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Setsid: true})
	<-done
	return 0
}

// runPID1 runs the helper in new PID and mount namespaces and returns its output.
func runPID1(t *testing.T, mode string, cfg helperConfig, timeout time.Duration) string {
	t.Helper()
	testneed.Root(t, "the PID 1 supervisor tests create PID and mount namespaces")
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperCfgEnv+"="+string(b))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	t.Logf("helper output:\n%s", out)
	if ctx.Err() != nil {
		t.Fatalf("helper did not finish within %v", timeout)
	}
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	return string(out)
}

func mustContain(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func TestPID1ReapsTenThousandOrphans(t *testing.T) {
	out := runPID1(t, "orphans", helperConfig{Orphans: 10000}, 120*time.Second)
	m := regexp.MustCompile(`RESULT orphans=(\d+) reaped=(\d+) zombies=(\d+) live=(\d+) elapsed_ms=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no result line")
	}
	ms, _ := strconv.Atoi(m[5])
	// Exactly the spawner's 10000 children are orphans; the spawner itself was registered.
	if m[1] != "10000" || m[2] != "10001" || m[3] != "0" || m[4] != "0" {
		t.Fatalf("orphans=%s reaped=%s zombies=%s live=%s, want 10000, 10001, 0, 0", m[1], m[2], m[3], m[4])
	}
	if ms > 60000 {
		t.Fatalf("took %d ms", ms)
	}
}

func TestPID1ExitStatuses(t *testing.T) {
	for _, tc := range []struct{ script, want string }{
		{"exit 0", "main process exited: exited 0"},
		{"exit 3", "main process exited: exited 3"},
		{"kill -KILL $$", "main process exited: killed by SIGKILL (137)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", tc.script}, GraceMS: 2000,
				Volumes: []plan.Volume{{Kind: plan.KindEBS, Destination: "/data1"}, {Kind: plan.KindEBS, Destination: "/data2"}}},
				30*time.Second)
			mustContain(t, out, "main process started with pid ", tc.want, "all processes exited during the grace period",
				"powering off", "POWEROFF reboot=false zombies=0")
			// sync, volumes in reverse order, read-only root, in that order.
			j := regexp.MustCompile(`JOURNAL (.*)`).FindStringSubmatch(out)
			if j == nil || !regexp.MustCompile(`sync.*unmount /data2.*unmount /data1.*remount`).MatchString(j[1]) {
				t.Errorf("journal %q", j)
			}
		})
	}
}

// A plan with command.reboot (BOOTPLAN_SHUTDOWN=reboot) ends the same clean shutdown with a
// reboot: the last line says so and the hook is asked to reboot, not power off.
func TestPID1RebootWhenThePlanSaysSo(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", "exit 0"}, GraceMS: 2000, Reboot: true,
		Volumes: []plan.Volume{{Kind: plan.KindEBS, Destination: "/data1"}}}, 30*time.Second)
	mustContain(t, out, "main process exited: exited 0", "all processes exited during the grace period",
		"rebooting", "POWEROFF reboot=true zombies=0")
	if strings.Contains(out, "powering off") {
		t.Error("a reboot plan printed powering off")
	}
	if strings.Index(out, "shutdown completed in") > strings.Index(out, "rebooting") {
		t.Error("rebooting is logged before the shutdown completed")
	}
	j := regexp.MustCompile(`JOURNAL (.*)`).FindStringSubmatch(out)
	if j == nil || !regexp.MustCompile(`sync.*unmount /data1.*remount`).MatchString(j[1]) {
		t.Errorf("journal %q: the clean shutdown must come before the reboot", j)
	}
}

func TestPID1GraceThenSIGKILL(t *testing.T) {
	const grace = 1500
	// The workload ignores SIGTERM (so does its sleep, SIG_IGN survives exec), asks PID 1
	// to shut down and leaves a detached grandchild that ignores SIGTERM too.
	script := `trap "" TERM; (trap "" TERM; setsid sh -c 'while :; do sleep 0.1; done' &) ; kill -TERM 1; while :; do sleep 0.1; done`
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", script}, GraceMS: grace}, 30*time.Second)
	mustContain(t, out, "shutting down: received SIGTERM", "grace period of 1.5s expired, sending SIGKILL",
		"all processes terminated", "POWEROFF reboot=false zombies=0")
	m := regexp.MustCompile(`shutdown completed in (\d+)ms`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no shutdown timing")
	}
	ms, _ := strconv.Atoi(m[1])
	if ms < grace || ms >= grace+1000 {
		t.Fatalf("shutdown took %d ms, want grace (%d ms) + < 1 s", ms, grace)
	}
}

// A workload that traps SIGTERM runs its trap once, and its exit during the shutdown is
// logged before power-off. (Here the duplicate SIGTERMs the old signalAll sent coalesce,
// the process scan being fast; the VM scenario power-button-graceful, where the scan takes
// ~100 ms under TCG, is what showed the trap running twice.)
func TestPID1SIGTERMOnceAndExitLogged(t *testing.T) {
	script := `trap 'echo TRAP-RAN; sleep 0.5; exit 0' TERM; sleep 30 & s=$!; sleep 0.3; kill -TERM 1; wait $s; sleep 5`
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", script}, GraceMS: 3000}, 30*time.Second)
	mustContain(t, out, "shutting down: received SIGTERM", "TRAP-RAN", "main process exited: exited 0",
		"all processes exited during the grace period", "POWEROFF reboot=false zombies=0")
	if n := strings.Count(out, "TRAP-RAN"); n != 1 {
		t.Errorf("the SIGTERM trap ran %d times, want 1", n)
	}
	if strings.Index(out, "main process exited") > strings.Index(out, "powering off") {
		t.Error("the main process's exit is logged after powering off")
	}
}

func TestPID1ForwardsSignals(t *testing.T) {
	script := `trap 'echo GOT-USR1; exit 7' USR1; trap 'echo GOT-HUP' HUP; kill -HUP 1; sleep 0.3; kill -USR1 1; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", script}, GraceMS: 2000}, 30*time.Second)
	mustContain(t, out, "GOT-HUP", "GOT-USR1", "main process exited: exited 7", "POWEROFF")
}

// The backoff measures each run from its own start: quick crashes double the delay up to the
// cap however long the service has been crash-looping in all, and one run as long as the
// reset period brings the delay back to the base. Run 4 sleeps 1.2 s (reset 1 s); the others
// exit at once.
func TestPID1ServiceBackoffResetsAfterALongRun(t *testing.T) {
	count := t.TempDir() + "/runs"
	script := `n=$(cat ` + count + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n >` + count + `; [ $n -eq 4 ] && sleep 1.2; exit 4`
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", "sleep 6"},
		GraceMS: 2000, RestartBaseMS: 100, RestartCapMS: 400, RestartResetMS: 1000,
		Services: []plan.Service{{Name: "crashy", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", script}}},
	}, 60*time.Second)
	var delays []string
	for _, m := range regexp.MustCompile(`service crashy exited: exited 4; restarting in (\S+)`).FindAllStringSubmatch(out, -1) {
		delays = append(delays, m[1])
	}
	if len(delays) < 7 || strings.Join(delays[:7], " ") != "100ms 200ms 400ms 100ms 200ms 400ms 400ms" {
		t.Fatalf("restart delays %v, want 100ms 200ms 400ms 100ms 200ms 400ms 400ms first", delays)
	}
}

func TestPID1ServiceRestartBackoff(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", "sleep 2"},
		GraceMS: 2000, RestartBaseMS: 50, RestartCapMS: 400,
		Services: []plan.Service{
			{Name: "crashy", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", "echo SVC-START; exit 4"}},
			{Name: "off", Enabled: false, Reason: "disabled by disable-services", Argv: []string{"/bin/false"}},
		},
	}, 30*time.Second)
	mustContain(t, out, "service crashy started", "service crashy exited: exited 4; restarting in 50ms",
		"restarting in 100ms", "restarting in 200ms", "restarting in 400ms", "service off not started", "POWEROFF")
	if strings.Contains(out, "restarting in 800ms") {
		t.Error("backoff exceeded its cap")
	}
	if n := strings.Count(out, "SVC-START"); n < 5 {
		t.Errorf("service started %d times", n)
	}
}

func TestPID1SpotNotice(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			fmt.Fprint(w, "tok")
		case r.URL.Path == "/latest/meta-data/spot/instance-action":
			if polls.Add(1) < 3 {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, `{"action":"terminate","time":"2030-01-02T03:04:05Z"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	start := time.Now()
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", "sleep 30"}, GraceMS: 2000,
		IMDS: srv.URL, SpotMS: 100}, 30*time.Second)
	mustContain(t, out, "spot interruption notice: action=terminate time=2030-01-02T03:04:05Z",
		"shutting down: spot interruption notice (action=terminate)", "all processes exited during the grace period", "POWEROFF")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestPID1RequiredServiceFailureStopsEverything(t *testing.T) {
	// chrony cannot initialise (no cb-chrony user in the sandbox): the boot fails, but only
	// after the service already started is stopped and the volumes are unmounted.
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", "echo MAIN-RAN"},
		GraceMS: 2000,
		Volumes: []plan.Volume{{Kind: plan.KindEBS, Destination: "/data"}},
		Services: []plan.Service{
			{Name: "early", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", "sleep 30"}},
			{Name: "chrony", Enabled: true},
		},
	}, 30*time.Second)
	mustContain(t, out, "service early started", "initializing chrony", "SIGTERM to all processes",
		"unmounted /data", "FAIL step=services err=service chrony: ", "zombies=0")
	if strings.Contains(out, "MAIN-RAN") {
		t.Error("main process ran after a required service failed")
	}
	if i, j := strings.Index(out, "unmounted /data"), strings.Index(out, "FAIL step="); i < 0 || j < i {
		t.Error("failure reported before the shutdown finished")
	}
}

// stuckHost runs an init script as a child that never ends and then waits for ever, ignoring
// its context: LinuxHost.Run waiting for a child in uninterruptible sleep (a frozen or hung
// filesystem, a failing disk) after its SIGKILL. Before blocking it asks PID 1 to shut down.
type stuckHost struct {
	*stage2.SandboxHost
	r *reaper.Reaper
}

func (h stuckHost) Run(ctx context.Context, cmd stage2.Cmd) (stage2.ExitStatus, error) {
	pid, _, err := stage2.StartReaped(h.r, stage2.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "1000"}, Dir: "/"})
	if err != nil {
		return stage2.ExitStatus{}, err
	}
	fmt.Printf("STUCK child %d started\n", pid)
	_ = unix.Kill(1, unix.SIGTERM) // the shutdown request, as the kernel delivers it
	<-make(chan struct{})          // never returns
	return stage2.ExitStatus{}, nil
}

// helperStuckStep boots a plan through stage2.Execute whose init-scripts step never returns,
// and sends PID 1 a SIGTERM meanwhile: the step must be abandoned after the grace, and the
// shutdown sequence must run (the step's child killed, volumes unmounted, power-off).
func helperStuckStep() int {
	sigs := CatchSignals()
	r := reaper.New()
	sb, _, err := newSandbox()
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	host := stuckHost{SandboxHost: sb, r: r}
	steps := &plan.Plan{Version: plan.Version, Command: plan.Command{ShutdownGrace: 1},
		InitScripts: []plan.InitScript{{Content: "#!/bin/sh\nsleep 1000\n"}}}
	// The supervisor's plan also lists a mounted EBS volume (the steps' copy does not: the
	// sandbox has no disk to attach), so the shutdown has something to unmount.
	withVolume := *steps
	withVolume.Volumes = []plan.Volume{{Kind: plan.KindEBS, Destination: "/data"}}
	done := make(chan struct{})
	c := mainConfig(&withVolume, host, r, sigs, nil)
	c.PowerButton = false
	c.SpotInterval = -1
	yes := true
	c.KillOthers = &yes
	c.PowerOff = func(reboot bool) {
		var ops []string
		for _, e := range sb.Journal() {
			ops = append(ops, strings.TrimSpace(e.Op+" "+e.Detail))
		}
		fmt.Printf("JOURNAL %s\n", strings.Join(ops, "; "))
		if b, err := sb.ReadFile(plan.ReportPath); err == nil {
			fmt.Printf("REPORT %q\n", b)
		}
		fmt.Printf("POWEROFF reboot=%v zombies=%d live=%d\n", reboot, zombies(), len(mustProcs()))
		close(done)
	}
	c.Fail = func(f console.Failure) {
		fmt.Printf("FAIL step=%s err=%v\n", f.Step, f.Err)
		close(done)
	}
	sup := New(c)
	rt := &stage2.Runtime{Plan: steps, Host: host}
	sup.Boot(stage2.Execute, rt, func(step string, err error) {
		fmt.Printf("FAIL step=%s err=%v\n", step, err)
		close(done)
	})
	<-done
	return 0
}

func mustProcs() []procStat {
	p, _ := userProcesses("/proc", os.Getpid())
	return p
}

// A step stuck for ever plus a shutdown request (SIGTERM to PID 1) still shuts the machine
// down: the step is abandoned after the plan's grace (1 s), marked so in the boot report,
// its child is killed, the volume unmounted and the power-off reached. On the code before
// the fix the helper never got past the step (the test's own timeout failed it).
func TestPID1StuckStepThenShutdown(t *testing.T) {
	out := runPID1(t, "stuck-step", helperConfig{}, 60*time.Second)
	mustContain(t, out, "STUCK child", "step init-scripts: abandoned after",
		"still running 1s after the shutdown request; abandoned",
		"shutting down: shutdown requested during boot", "SIGTERM to all processes",
		"unmounted /data", "powering off", "POWEROFF reboot=false zombies=0 live=0")
	if !regexp.MustCompile(`REPORT .*name = \\"init-scripts\\"\\n *status = \\"abandoned\\"`).MatchString(out) {
		t.Error("the boot report does not mark init-scripts abandoned")
	}
	if strings.Contains(out, "FAIL step=") {
		t.Error("a shutdown request is not a boot failure")
	}
}

// sshIMDS serves an IMDS with an ssh public key.
func sshIMDS(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			fmt.Fprint(w, "tok")
		case r.URL.Path == "/latest/meta-data/public-keys/0/openssh-key":
			fmt.Fprint(w, "ssh-ed25519 AAAA test")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The ssh service's sandbox: a login user and its home.
var sshFiles = map[string]string{
	"/etc/passwd":         "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
	"/.easyto/home/user/": "",
	"/home/user/":         "",
}

// The main process reports whether an ssh-keygen (here: a sleep that ignores SIGTERM) is
// still running.
const keygenCheck = `if for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <$f; echo; done | grep -q "^sleep 1000 "; then echo KEYGEN-ALIVE; else echo KEYGEN-GONE; fi`

// An ssh-keygen that overruns its bound is killed (it was left running before), and the boot
// goes on with the main process.
func TestPID1KeygenKilledAtTimeout(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", keygenCheck},
		GraceMS: 2000, IMDS: sshIMDS(t), Files: sshFiles,
		Services:        []plan.Service{{Name: "ssh", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", "sleep 30"}}},
		Keygen:          `echo KEYGEN-RAN; trap "" TERM; exec sleep 1000`,
		KeygenTimeoutMS: 300,
	}, 30*time.Second)
	mustContain(t, out, "wrote SSH authorized_keys", "KEYGEN-RAN", "ssh-keygen did not finish in 300ms; killed",
		"service ssh started", "KEYGEN-GONE", "POWEROFF reboot=false zombies=0")
}

// A shutdown request while the services start (here: SIGTERM sent by ssh-keygen, which then
// hangs; its bound is a minute) is acted on at once: the keygen is killed, the main process
// never starts and the shutdown runs.
func TestPID1ShutdownDuringServiceStart(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", "echo MAIN-RAN"},
		GraceMS: 2000, IMDS: sshIMDS(t), Files: sshFiles,
		Volumes:         []plan.Volume{{Kind: plan.KindEBS, Destination: "/data"}},
		Services:        []plan.Service{{Name: "ssh", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", "sleep 30"}}},
		Keygen:          `echo KEYGEN-RAN; trap "" TERM; kill -TERM 1; exec sleep 1000`,
		KeygenTimeoutMS: 60000,
	}, 30*time.Second)
	mustContain(t, out, "KEYGEN-RAN", "ssh-keygen stopped: shutdown requested", "shutting down: received SIGTERM during boot",
		"unmounted /data", "POWEROFF reboot=false zombies=0")
	for _, s := range []string{"MAIN-RAN", "main process started", "service ssh started"} {
		if strings.Contains(out, s) {
			t.Errorf("%q after the shutdown request", s)
		}
	}
}

// Ctrl-Alt-Del, once stage one has set CAD_OFF, is a SIGINT to PID 1: a clean shutdown like
// SIGTERM (the workload is stopped, volumes unmounted, power-off), never an abrupt reboot.
func TestPID1SIGINTIsACleanShutdown(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{Main: []string{"/bin/sh", "-c", "kill -INT 1; sleep 30"}, GraceMS: 2000,
		Volumes: []plan.Volume{{Kind: plan.KindEBS, Destination: "/data"}}}, 30*time.Second)
	mustContain(t, out, "shutting down: received SIGINT", "main process exited: killed by SIGTERM",
		"all processes exited during the grace period", "unmounted /data", "powering off", "POWEROFF reboot=false zombies=0")
}

// readonly-root-fs: the root is remounted read-only after the services' files are written
// (authorized_keys, host keys) and before the main process starts, as easyto does; before, the remount came first and ssh setup failed on the read-only root.
func TestPID1ReadonlyRootAfterSSHSetup(t *testing.T) {
	out := runPID1(t, "supervise", helperConfig{
		Main:    []string{"/bin/sh", "-c", "echo MAIN-RAN"},
		GraceMS: 2000, IMDS: sshIMDS(t), Files: sshFiles, ReadonlyRoot: true,
		Services: []plan.Service{{Name: "ssh", Enabled: true, Optional: true, Argv: []string{"/bin/sh", "-c", "sleep 30"}}},
		Keygen:   `echo KEYGEN-RAN`,
	}, 30*time.Second)
	mustContain(t, out, "wrote SSH authorized_keys", "KEYGEN-RAN", "service ssh started", "MAIN-RAN", "POWEROFF")
	j := regexp.MustCompile(`JOURNAL (.*)`).FindStringSubmatch(out)
	if j == nil || !regexp.MustCompile(`write /home/user/.ssh/authorized_keys[^;]*; remount / read-only; .*sync; remount / read-only; sync$`).MatchString(j[1]) {
		t.Errorf("journal %q: want authorized_keys written, then / remounted read-only, ..., the shutdown", j)
	}
	if i, k := strings.Index(out, "remounted / read-only"), strings.Index(out, "main process started"); i < 0 || k < i {
		t.Error("the main process started before / was remounted read-only")
	}
}
