package stage1

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/halt"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
	"golang.org/x/sys/unix"
)

// captureConsole collects console output for one test.
func captureConsole(t *testing.T) *syncBuf {
	t.Helper()
	var b syncBuf
	console.SetOutput(&b)
	old := console.Since
	console.Since = func() time.Duration { return 0 }
	t.Cleanup(func() { console.SetOutput(os.Stderr); console.Since = old; console.SetDebug(false) })
	return &b
}

// syncBuf is read only after the steps are done; console serialises the writes.
type syncBuf struct{ buf bytes.Buffer }

func (b *syncBuf) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *syncBuf) String() string              { return b.buf.String() }

func TestCmdlineEnv(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][2]string
	}{
		{"", nil},
		{"console=ttyS0 panic=-1 quiet", nil},
		{"console=ttyS0 AWS_EC2_METADATA_SERVICE_ENDPOINT=http://169.254.169.254:80 BOOTPLAN_ON_FAILURE=reboot\n",
			[][2]string{{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254:80"}, {"BOOTPLAN_ON_FAILURE", "reboot"}}},
		{`A_B="x y z" EMPTY= 9X=1 lower=1 Mixed=1 virtio.x=1 -- AFTER=1`,
			[][2]string{{"A_B", "x y z"}, {"EMPTY", ""}}},
		{"SSL_CERT_FILE=/.easyto/etc/amazon.pem", [][2]string{{"SSL_CERT_FILE", "/.easyto/etc/amazon.pem"}}},
		// Names at the edges of A-Z and 0-9, and the characters just outside them.
		{"0A=1 9A=1 A=1 Z=1 A0=1 A9=1 _=1 @=1 [=1 A/=1 A:=1 /A=1",
			[][2]string{{"A", "1"}, {"Z", "1"}, {"A0", "1"}, {"A9", "1"}, {"_", "1"}}},
	} {
		if got := CmdlineEnv(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CmdlineEnv(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	got := MergeEnv([]string{"HOME=/", "A=kernel"}, [][2]string{{"A", "cmdline"}, {"B", "1"}, {"B", "2"}})
	if want := [][2]string{{"B", "1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("MergeEnv = %v, want %v", got, want)
	}
}

func TestRunStepsOrderAndConcurrency(t *testing.T) {
	out := captureConsole(t)
	var order []string
	ch := make(chan string, 10)
	record := func(name string) func(context.Context) error {
		return func(context.Context) error { ch <- name; return nil }
	}
	// b and c are independent: c waits until b has started, which deadlocks unless they run
	// concurrently.
	bStarted := make(chan struct{})
	steps := []Step{
		{Name: "a", Run: record("a")},
		{Name: "b", After: []string{"a"}, Run: func(context.Context) error { close(bStarted); ch <- "b"; return nil }},
		{Name: "c", After: []string{"a"}, Timeout: 2 * time.Second, Run: func(ctx context.Context) error {
			select {
			case <-bStarted:
			case <-ctx.Done():
				return ctx.Err()
			}
			ch <- "c"
			return nil
		}},
		{Name: "d", After: []string{"b", "c"}, Run: record("d")},
	}
	if err := RunSteps(context.Background(), steps); err != nil {
		t.Fatal(err)
	}
	close(ch)
	for n := range ch {
		order = append(order, n)
	}
	if order[0] != "a" || order[3] != "d" {
		t.Fatalf("order %v", order)
	}
	if !strings.Contains(out.String(), "info: step d: done in ") || !strings.Contains(out.String(), "info: step a: started") {
		t.Fatalf("console:\n%s", out)
	}
}

func TestRunStepsFailure(t *testing.T) {
	captureConsole(t)
	var ran atomic.Bool
	boom := errors.New("boom")
	err := RunSteps(context.Background(), []Step{
		{Name: "a", Run: func(context.Context) error { return boom }},
		{Name: "b", After: []string{"a"}, Run: func(context.Context) error { ran.Store(true); return nil }},
	})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "a" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if ran.Load() {
		t.Fatal("dependent step ran after a failure")
	}
}

func TestRunStepsOnlyEarlierDependencies(t *testing.T) {
	captureConsole(t)
	err := RunSteps(context.Background(), []Step{{Name: "x", After: []string{"later"}}, {Name: "later"}})
	if err == nil || !strings.Contains(err.Error(), "not an earlier step") {
		t.Fatalf("bad order: err = %v", err)
	}
}

func TestSequenceIsValid(t *testing.T) {
	b := &boot{}
	steps := b.sequence()
	seen := map[string]bool{}
	for _, s := range steps {
		for _, d := range s.After {
			if !seen[d] {
				t.Errorf("%s depends on %s, not an earlier step", s.Name, d)
			}
		}
		if s.Timeout <= 0 || s.Run == nil {
			t.Errorf("%s: needs a timeout and a body", s.Name)
		}
		seen[s.Name] = true
	}
	if steps[len(steps)-1].Name != "write-plan" {
		t.Error("write-plan must be last")
	}
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestWriteUserData(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"plain", []byte("command: [/bin/true]\n"), "command: [/bin/true]\n"},
		{"gzip", gz(t, "debug: true\n"), "debug: true\n"},
		{"bad gzip kept as fetched", []byte{0x1f, 0x8b, 1, 2}, "\x1f\x8b\x01\x02"},
		{"empty", []byte{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name, "var/lib/user-data")
			if err := WriteUserData(p, tc.raw); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			if string(b) != tc.want {
				t.Fatalf("content %q", b)
			}
			fi, _ := os.Stat(p)
			di, _ := os.Stat(filepath.Dir(p))
			if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o755 {
				t.Fatalf("modes file %v dir %v", fi.Mode(), di.Mode())
			}
			// Owned by whoever runs stage one (root): never chowned.
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
				t.Fatalf("owner %d:%d, want %d:%d", st.Uid, st.Gid, os.Getuid(), os.Getgid())
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*")); len(m) != 0 {
				t.Fatalf("temporary files left: %v", m)
			}
		})
	}
}

// fakeIMDS serves IMDSv2 with user data (status 200 with body, or another status).
func fakeIMDS(t *testing.T, status int, body []byte) *imds.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Write([]byte("tok"))
		case r.Header.Get("X-aws-ec2-metadata-token") != "tok":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/latest/user-data":
			w.WriteHeader(status)
			w.Write(body)
		case r.URL.Path == "/latest/meta-data/local-hostname":
			w.Write([]byte("ip-10-0-0-5.ec2.internal\n"))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return imds.New(srv.URL, imds.WithDeadline(time.Second), imds.WithBackoff(time.Millisecond, 10*time.Millisecond))
}

func TestFetchUserData(t *testing.T) {
	ctx := context.Background()
	raw, found, err := FetchUserData(ctx, fakeIMDS(t, 200, gz(t, "x: 1\n")))
	if err != nil || !found || raw[0] != 0x1f {
		t.Fatalf("200: %v %v %v", raw, found, err)
	}
	raw, found, err = FetchUserData(ctx, fakeIMDS(t, 404, nil))
	if err != nil || found || raw != nil {
		t.Fatalf("404: %v %v %v", raw, found, err)
	}
	start := time.Now()
	_, _, err = FetchUserData(ctx, fakeIMDS(t, 500, nil))
	if err == nil || !strings.Contains(err.Error(), "fetch user data") || time.Since(start) > 5*time.Second {
		t.Fatalf("500: %v after %s", err, time.Since(start))
	}
}

func noHostname(t *testing.T) {
	old := setHostnameFn
	setHostnameFn = func(string) error { return nil }
	t.Cleanup(func() { setHostnameFn = old })
}

func testBoot(t *testing.T, metadata string, c *imds.Client) *boot {
	dir := t.TempDir()
	p := Paths{
		Metadata: filepath.Join(dir, "metadata.json"),
		Passwd:   filepath.Join(dir, "etc/passwd"),
		Group:    filepath.Join(dir, "etc/group"),
		Services: filepath.Join(dir, "services"),
		UserData: filepath.Join(dir, "var/lib/user-data"),
		Plan:     filepath.Join(dir, "run/plan.toml"),
	}
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "run"), 0o755)
	os.MkdirAll(filepath.Join(p.Services, "chrony"), 0o755)
	os.WriteFile(p.Passwd, []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(p.Group, []byte("root:x:0:\napp:x:1000:\n"), 0o644)
	if metadata != "" {
		os.WriteFile(p.Metadata, []byte(metadata), 0o644)
	}
	return &boot{cfg: Config{Version: "test"}, paths: p, imds: c, start: time.Now(),
		net: plan.Network{Configured: true, Interface: "eth0", Address: "169.254.169.15/24"}}
}

// runAfterNetwork runs the steps that follow the network against temporary paths.
func runAfterNetwork(b *boot) error {
	var steps []Step
	for _, s := range b.sequence() {
		switch s.Name {
		case "mounts", "cmdline", "network":
			continue
		}
		var after []string
		for _, d := range s.After {
			if d != "mounts" && d != "network" && d != "cmdline" {
				after = append(after, d)
			}
		}
		s.After = after
		steps = append(steps, s)
	}
	return RunSteps(context.Background(), steps)
}

const meta = `{"config":{"Entrypoint":["/bin/app"],"Cmd":["serve"],"Env":["PATH=/bin"],"User":"app"}}`

func TestBootCompilesAndWritesPlan(t *testing.T) {
	out := captureConsole(t)
	b := testBoot(t, meta, fakeIMDS(t, 200, gz(t, "args: [work]\ndebug: true\nenv:\n  - name: SECRET\n    value: hunter2\n")))
	noHostname(t)
	if err := runAfterNetwork(b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fi, err := os.Stat(b.paths.Plan)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("plan: %v %v", fi, err)
	}
	p, err := plan.ReadFile(b.paths.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Command.Argv, " ") != "/bin/app work" || p.Command.UID != 1000 || !p.Debug ||
		p.Network.Hostname != "ip-10-0-0-5.ec2.internal" || p.Network.Interface != "eth0" || !p.Source.UserData {
		t.Fatalf("plan = %+v", p)
	}
	if len(p.Services) != 1 || p.Services[0].Name != "chrony" {
		t.Fatalf("services = %+v", p.Services)
	}
	ud, _ := os.ReadFile(b.paths.UserData)
	if !strings.HasPrefix(string(ud), "args: [work]") {
		t.Fatalf("user data file %q", ud)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("secret value on the console:\n%s", out)
	}
	if !strings.Contains(out.String(), "plan written to "+b.paths.Plan) || !strings.Contains(out.String(), "debug logging enabled") {
		t.Fatalf("console:\n%s", out)
	}
}

// BOOTPLAN_SHUTDOWN=reboot on the kernel command line (or in the environment) reaches the
// plan as command.reboot; without it the plan powers off.
func TestBootShutdownRebootFromCmdline(t *testing.T) {
	for _, tc := range []struct {
		name, env, cmdline string
		want               bool
	}{
		{"absent", "", "console=ttyS0 quiet", false},
		{"cmdline", "", "console=ttyS0 BOOTPLAN_SHUTDOWN=reboot quiet", true},
		{"environment", "reboot", "console=ttyS0", true},
		{"environment wins", "poweroff", "BOOTPLAN_SHUTDOWN=reboot", false},
		{"failure action is separate", "", "BOOTPLAN_ON_FAILURE=reboot", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := captureConsole(t)
			noHostname(t)
			// The cmdline step sets what the kernel did not pass; t.Setenv restores each.
			for _, kv := range CmdlineEnv(tc.cmdline) {
				t.Setenv(kv[0], os.Getenv(kv[0]))
				os.Unsetenv(kv[0])
			}
			t.Setenv(halt.ShutdownEnv, tc.env)
			if tc.env == "" {
				os.Unsetenv(halt.ShutdownEnv)
			}
			old := readCmdline
			readCmdline = func() ([]byte, error) { return []byte(tc.cmdline + "\n"), nil }
			t.Cleanup(func() { readCmdline = old })

			b := testBoot(t, meta, fakeIMDS(t, 404, nil))
			if err := b.cmdline(context.Background()); err != nil {
				t.Fatal(err)
			}
			b.imds = fakeIMDS(t, 404, nil) // cmdline set it from the environment
			if err := runAfterNetwork(b); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			p, err := plan.ReadFile(b.paths.Plan)
			if err != nil {
				t.Fatal(err)
			}
			if p.Command.Reboot != tc.want {
				t.Errorf("plan command.reboot = %v, want %v", p.Command.Reboot, tc.want)
			}
			if got := strings.Contains(out.String(), "reboot at shutdown"); got != tc.want {
				t.Errorf("summary says reboot at shutdown: %v, want %v:\n%s", got, tc.want, out)
			}
		})
	}
}

func TestBootCompileErrorsPrintLineCol(t *testing.T) {
	out := captureConsole(t)
	b := testBoot(t, meta, fakeIMDS(t, 200, []byte("args: [work\nenv: 3\n")))
	noHostname(t)
	err := runAfterNetwork(b)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "compile" {
		t.Fatalf("err = %v", err)
	}
	t.Logf("console:\n%s", out)
	if !strings.Contains(out.String(), "error: user-data:") {
		t.Fatalf("no user-data:LINE:COL lines:\n%s", out)
	}
	f := b.failure(se.Step, se.Err)
	if f.UserData != b.paths.UserData || f.Plan != "" {
		t.Fatalf("failure = %+v", f)
	}
	if banner := console.Banner(f.Failure); !strings.Contains(banner, "BOOT FAILED in stage1, step compile") ||
		!strings.Contains(banner, "user data: "+b.paths.UserData) {
		t.Fatalf("banner:\n%s", banner)
	}
}

func TestBootUserDataFailureIsFatal(t *testing.T) {
	captureConsole(t)
	b := testBoot(t, meta, fakeIMDS(t, 500, nil))
	noHostname(t)
	err := runAfterNetwork(b)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "user-data" {
		t.Fatalf("err = %v (a failed fetch must never boot with defaults)", err)
	}
	if _, err := os.Stat(b.paths.Plan); err == nil {
		t.Fatal("plan written despite the failure")
	}
}

func TestBootNoUserDataAndMissingMetadata(t *testing.T) {
	captureConsole(t)
	noHostname(t)
	b := testBoot(t, meta, fakeIMDS(t, 404, nil))
	if err := runAfterNetwork(b); err != nil {
		t.Fatalf("404 user data must boot with the image's config: %v", err)
	}
	if _, err := os.Stat(b.paths.UserData); err == nil {
		t.Fatal("user-data file written without user data")
	}
	b = testBoot(t, "", fakeIMDS(t, 404, nil))
	err := runAfterNetwork(b)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "image" || !strings.Contains(err.Error(), "metadata.json") {
		t.Fatalf("err = %v", err)
	}
}

// A previous boot's saved user data (it may hold secrets) must not outlive user data that
// was removed from the instance: IMDS 404 deletes it.
func TestBootNoUserDataRemovesStaleCopy(t *testing.T) {
	out := captureConsole(t)
	noHostname(t)
	b := testBoot(t, meta, fakeIMDS(t, 404, nil))
	if err := os.MkdirAll(filepath.Dir(b.paths.UserData), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.paths.UserData, []byte("env:\n  - name: DB\n    value: old-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runAfterNetwork(b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Lstat(b.paths.UserData); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale user data still at %s (%v)", b.paths.UserData, err)
	}
	if !strings.Contains(out.String(), "removed the previous boot's user data "+b.paths.UserData) {
		t.Errorf("console does not say so:\n%s", out)
	}
	// Nothing to remove: no line about it, and no failure.
	out2 := captureConsole(t)
	b2 := testBoot(t, meta, fakeIMDS(t, 404, nil))
	if err := runAfterNetwork(b2); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out2.String(), "previous boot's user data") {
		t.Errorf("claims a removal that did not happen:\n%s", out2)
	}
}

func TestListServices(t *testing.T) {
	// easyto's asset build makes the markers with touch: empty files. Directories count too;
	// names starting with "." never do.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ssh"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "chrony"), nil, 0o644)
	os.MkdirAll(filepath.Join(dir, "ntp"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(dir, ".keep"), nil, 0o644)
	got, err := listServices(dir)
	if err != nil || !reflect.DeepEqual(got, []string{"chrony", "ntp", "ssh"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := listServices(filepath.Join(dir, "none")); err != nil || got != nil {
		t.Fatalf("missing dir: %v, %v", got, err)
	}
}

// BOOTPLAN_DEBUG turns debug logging on unless it is empty, "0" or "false".
func TestCmdlineDebugSwitch(t *testing.T) {
	old := readCmdline
	readCmdline = func() ([]byte, error) { return nil, nil }
	t.Cleanup(func() { readCmdline = old })
	for v, on := range map[string]bool{"": false, "0": false, "false": false, "1": true, "true": true, "yes": true} {
		logs := captureConsole(t)
		t.Setenv("BOOTPLAN_DEBUG", v)
		if err := (&boot{}).cmdline(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "debug logging enabled (BOOTPLAN_DEBUG)"); got != on {
			t.Errorf("BOOTPLAN_DEBUG=%q: debug %v, want %v", v, got, on)
		}
		console.SetDebug(false)
	}
}

// readImage: missing passwd, group and services are normal (no warning); ones that cannot
// be read are warned about, and the boot goes on.
func TestReadImageWarnings(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, "metadata.json")
	os.WriteFile(meta, []byte(`{}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "services", "ssh"), 0o755)
	logs := captureConsole(t)
	b := &boot{paths: Paths{Metadata: meta, Passwd: filepath.Join(dir, "none"), Group: filepath.Join(dir, "none2"), Services: filepath.Join(dir, "services")}}
	if err := b.readImage(context.Background()); err != nil || strings.Contains(logs.String(), "warning") ||
		string(b.metadata) != "{}" || !reflect.DeepEqual(b.services, []string{"ssh"}) {
		t.Fatalf("missing passwd and group: %v, %+v\n%s", err, b, logs)
	}
	// A directory where passwd and the services directory should be: read errors.
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	b = &boot{paths: Paths{Metadata: meta, Passwd: dir, Group: filepath.Join(dir, "none2"), Services: notDir}}
	if err := b.readImage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := logs.String(); strings.Count(s, "warning: image: ") != 2 || !strings.Contains(s, "warning: image: services: ") || b.services != nil {
		t.Fatalf("unreadable passwd and services: %+v\n%s", b, s)
	}
}

// The user-data line says whether the data was gzip (by its magic number, 1f 8b).
func TestUserDataLogLine(t *testing.T) {
	for _, tc := range []struct {
		body []byte
		want string
	}{
		{[]byte{0x1f, 0x8b}, "user data: 2 bytes, gzip, written to "},
		{[]byte{0x1f, 0x8c}, "user data: 2 bytes, written to "},
		{[]byte{0x1e, 0x8b}, "user data: 2 bytes, written to "},
		{[]byte{0x1f}, "user data: 1 bytes, written to "},
	} {
		logs := captureConsole(t)
		b := &boot{imds: fakeIMDS(t, 200, tc.body), paths: Paths{UserData: filepath.Join(t.TempDir(), "user-data")}}
		if err := b.userData(context.Background()); err != nil || !strings.Contains(logs.String(), tc.want) {
			t.Errorf("% x: %v\n%s", tc.body, err, logs)
		}
	}
}

// An empty local-hostname from IMDS is a warning that says so; the hostname is not set.
func TestHostnameEmpty(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			w.Write([]byte("tok"))
		}
	}))
	t.Cleanup(srv.Close)
	set := 0
	old := setHostnameFn
	setHostnameFn = func(string) error { set++; return nil }
	t.Cleanup(func() { setHostnameFn = old })
	logs := captureConsole(t)
	b := &boot{imds: imds.New(srv.URL, imds.WithDeadline(time.Second))}
	if err := b.hostname(context.Background()); err != nil || set != 0 || b.net.Hostname != "" ||
		!strings.Contains(logs.String(), "warning: failed to set hostname: IMDS local-hostname: empty\n") {
		t.Fatalf("%v, set %d times\n%s", err, set, logs)
	}
}

// The plan is written 0600 and owned by whoever runs stage one (root): never chowned.
func TestWritePlanOwnerAndMode(t *testing.T) {
	captureConsole(t)
	path := filepath.Join(t.TempDir(), "plan.toml")
	b := &boot{plan: &plan.Plan{Version: plan.Version}, paths: Paths{Plan: path}}
	if err := b.writePlan(context.Background()); err != nil || !b.planWritten {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
		t.Fatalf("plan %v owned by %d:%d, want 0600 and %d:%d", fi.Mode(), st.Uid, st.Gid, os.Getuid(), os.Getgid())
	}
}

// Stage one turns Ctrl-Alt-Del into a SIGINT to PID 1 (LINUX_REBOOT_CMD_CAD_OFF); a failure
// is a warning, not a failed boot.
func TestDisableCtrlAltDel(t *testing.T) {
	old := rebootSyscall
	t.Cleanup(func() { rebootSyscall = old })
	var got []int
	rebootSyscall = func(cmd int) error { got = append(got, cmd); return nil }
	disableCtrlAltDel()
	if len(got) != 1 || got[0] != unix.LINUX_REBOOT_CMD_CAD_OFF {
		t.Fatalf("reboot calls %#x, want one LINUX_REBOOT_CMD_CAD_OFF (%#x)", got, unix.LINUX_REBOOT_CMD_CAD_OFF)
	}
	rebootSyscall = func(int) error { return unix.EPERM }
	disableCtrlAltDel() // must not panic or fail
}

// Stage one sets the link-protection sysctls, in order, and says so in one line; one the
// kernel lacks is a warning, not a failure.
func TestProtectLinks(t *testing.T) {
	out := captureConsole(t)
	old := writeSysctl
	t.Cleanup(func() { writeSysctl = old })
	var got []string
	writeSysctl = func(name, value string) error { got = append(got, name+"="+value); return nil }
	protectLinks()
	want := []string{"fs.protected_hardlinks=1", "fs.protected_symlinks=1", "fs.protected_fifos=1", "fs.protected_regular=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrote %v, want %v", got, want)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "link protection: "+strings.Join(want, " ")) {
		t.Errorf("console:\n%s", out.String())
	}

	out.buf.Reset()
	writeSysctl = func(name, value string) error {
		if name == "fs.protected_regular" {
			return errors.New("no such file or directory")
		}
		return nil
	}
	protectLinks()
	if s := out.String(); !strings.Contains(s, "warning: link protection: could not set fs.protected_regular (no such file or directory)") || !strings.Contains(s, "fs.protected_fifos=1") {
		t.Errorf("console:\n%s", s)
	}
}
