// Package stage1 is bootplan's first stage: PID 1 from the kernel to a compiled boot plan.
// It mounts the early filesystems, brings up the network with DHCP, fetches user data from
// IMDS, compiles the plan from the image metadata and the user data, writes it, and execs
// stage two. Every failure ends in one banner and a power-off (internal/halt).
package stage1

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/fsutil"
	"github.com/bootplan/bootplan/internal/halt"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
)

// Stage2Path is the program stage one hands over to.
const Stage2Path = "/.easyto/sbin/stage2"

// Config is what main passes in.
type Config struct {
	Version string
}

// Paths are the files stage one reads and writes (the easyto AMI layout).
type Paths struct {
	Metadata, Passwd, Group, Services, UserData, Plan string
}

// DefaultPaths are the machine's.
var DefaultPaths = Paths{
	Metadata: plan.MetadataPath,
	Passwd:   "/etc/passwd",
	Group:    "/etc/group",
	Services: plan.ServicesDir,
	UserData: plan.UserDataPath,
	Plan:     plan.PlanPath,
}

// boot is the state the steps share. Each field is written by one step and read only by
// steps that come after it, so the step order is the synchronisation.
type boot struct {
	cfg   Config
	paths Paths
	start time.Time
	imds  *imds.Client

	// cmdline: BOOTPLAN_SHUTDOWN=reboot (the plan's Command.Reboot)
	rebootOnExit bool
	// image
	metadata, passwd, group []byte
	services                []string
	// network, hostname
	net plan.Network
	// user-data
	rawUserData     []byte
	userDataWritten bool
	// compile, write-plan
	plan        *plan.Plan
	planWritten bool
}

// Failure is a failed stage one, ready for the banner.
type Failure struct{ console.Failure }

func (f *Failure) Error() string { return f.Step + ": " + f.Err.Error() }

// Run is stage one. On success it execs stage two and does not return; otherwise it returns
// a *Failure for the banner.
func Run(cfg Config) error {
	b := &boot{cfg: cfg, paths: DefaultPaths, start: time.Now()}
	console.Infof("bootplan stage1 %s started", cfg.Version)
	disableCtrlAltDel()
	if err := RunSteps(context.Background(), b.sequence()); err != nil {
		step := "stage1"
		var se *StepError
		if errors.As(err, &se) {
			step, err = se.Step, se.Err
		}
		return b.failure(step, err)
	}
	return b.exec()
}

func (b *boot) failure(step string, err error) *Failure {
	f := &Failure{console.Failure{Stage: "stage1", Step: step, Err: err}}
	if b.userDataWritten {
		f.UserData = b.paths.UserData
	}
	if b.planWritten {
		f.Plan = b.paths.Plan
	}
	return f
}

func (b *boot) mounts(ctx context.Context) error {
	if err := mountAll("/", EarlyMounts, EarlySymlinks); err != nil {
		return err
	}
	ensureStdio()
	protectLinks()
	return nil
}

// readCmdline reads the kernel command line (a seam for tests).
var readCmdline = func() ([]byte, error) { return os.ReadFile("/proc/cmdline") }

func (b *boot) cmdline(ctx context.Context) error {
	raw, err := readCmdline()
	if err != nil {
		console.Warnf("cmdline: %v", err)
		raw = nil // the environment the kernel passed still counts
	}
	for _, kv := range MergeEnv(os.Environ(), CmdlineEnv(string(raw))) {
		os.Setenv(kv[0], kv[1])
		console.Debugf("cmdline: %s set from /proc/cmdline", kv[0])
	}
	// Read exactly as halt reads BOOTPLAN_ON_FAILURE: the environment, then the command line.
	b.rebootOnExit = halt.ActionFrom(halt.ShutdownEnv, os.Getenv(halt.ShutdownEnv), string(raw)) == halt.RebootAction
	if b.rebootOnExit {
		console.Infof("cmdline: %s=reboot: the machine reboots after a clean shutdown", halt.ShutdownEnv)
	}
	if v := os.Getenv("BOOTPLAN_DEBUG"); v != "" && v != "0" && v != "false" {
		console.SetDebug(true)
		console.Debugf("debug logging enabled (BOOTPLAN_DEBUG)")
	}
	b.imds = imds.FromEnv()
	return nil
}

func (b *boot) readImage(ctx context.Context) error {
	var err error
	if b.metadata, err = fsutil.ReadFile(b.paths.Metadata); err != nil {
		return fmt.Errorf("read image metadata: %w", err)
	}
	// passwd and group are optional: Compile complains only if a user name needs them.
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{b.paths.Passwd, &b.passwd}, {b.paths.Group, &b.group}} {
		if *f.dst, err = fsutil.ReadFile(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			console.Warnf("image: %v", err)
		}
	}
	b.services, err = listServices(b.paths.Services)
	if err != nil {
		console.Warnf("image: services: %v; starting none", err)
	}
	console.Debugf("image: metadata.json %d bytes, services %v", len(b.metadata), b.services)
	return nil
}

// listServices returns the service names under dir (plan.ServiceNames: files and directories,
// as easyto-init counts them); no dir = no services.
func listServices(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return plan.ServiceNames(ents), nil
}

func (b *boot) network(ctx context.Context) error {
	env, err := realNetEnv()
	if err != nil {
		return err
	}
	defer env.nl.Close()
	env.bootstrapped = b.chooseIMDS // imdsfamily.go
	n, err := setupNetwork(ctx, env, currentIMDS{b})
	if err != nil {
		return err
	}
	b.chooseIMDS(n)
	n.IMDSEndpoint = b.imds.Endpoint()
	b.net = n
	return nil
}

func (b *boot) userData(ctx context.Context) error {
	raw, found, err := FetchUserData(ctx, b.imds)
	if err != nil {
		return err
	}
	if !found {
		console.Infof("user data: none (IMDS 404); booting with the image's configuration")
		// A copy saved by an earlier boot may hold secrets the instance no longer has.
		removeStaleUserData(b.paths.UserData)
		return nil
	}
	b.rawUserData = raw
	if err := WriteUserData(b.paths.UserData, raw); err != nil {
		return err
	}
	b.userDataWritten = true
	gz := ""
	if len(raw) > 1 && raw[0] == 0x1f && raw[1] == 0x8b {
		gz = ", gzip"
	}
	console.Infof("user data: %d bytes%s, written to %s", len(raw), gz, b.paths.UserData)
	return nil
}

func (b *boot) hostname(ctx context.Context) error {
	name, err := b.imds.GetString(ctx, "meta-data/local-hostname")
	if err != nil || name == "" {
		if err == nil {
			err = errors.New("empty")
		}
		console.Warnf("failed to set hostname: IMDS local-hostname: %v", err)
		return nil
	}
	if err := setHostnameFn(name); err != nil {
		console.Warnf("failed to set hostname %q: %v", name, err)
		return nil
	}
	b.net.Hostname = name
	console.Infof("hostname: %s", name)
	return nil
}

func (b *boot) compile(ctx context.Context) error {
	p, diags, err := plan.Compile(plan.Inputs{
		RawUserData: b.rawUserData,
		Metadata:    b.metadata,
		Passwd:      b.passwd,
		Group:       b.group,
		Services:    b.services,
		Network:     b.net,
		Now:         time.Now().UTC(),
		Strict:      false,
		Version:     b.cfg.Version,

		RebootOnExit: b.rebootOnExit,
	})
	for _, d := range diags.Warnings() {
		console.Warnf("%s", d)
	}
	if err != nil {
		errs := plan.AsDiagnostics(err)
		if len(errs) == 0 {
			errs = diags.Errors()
		}
		for _, d := range errs {
			console.Errorf("%s", d)
		}
		return err
	}
	b.plan = p
	if p.Debug {
		console.SetDebug(true)
		console.Infof("debug logging enabled")
	}
	return nil
}

func (b *boot) writePlan(ctx context.Context) error {
	data, err := plan.Encode(b.plan)
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(b.paths.Plan, data, 0o600, -1, -1); err != nil {
		return err
	}
	b.planWritten = true
	for _, l := range strings.Split(strings.TrimRight(b.plan.Summary(false), "\n"), "\n") {
		console.Infof("%s", l)
	}
	console.Infof("plan written to %s", b.paths.Plan)
	return nil
}

func (b *boot) exec() error {
	console.Infof("exec stage2 %s %s (stage one took %s)", Stage2Path, b.paths.Plan, console.Duration(time.Since(b.start)))
	err := execStage2(Stage2Path, []string{"stage2", b.paths.Plan}, os.Environ())
	return b.failure("exec", fmt.Errorf("exec %s: %w", Stage2Path, err))
}
