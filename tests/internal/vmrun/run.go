package vmrun

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/tests/imdsmock"
	"github.com/bootplan/bootplan/tests/internal/image"
)

// Guest-side addresses (QEMU user network, see reference/test-machine.md).
const (
	GuestNet     = "169.254.169.0/24"
	GuestHost    = "169.254.169.1"
	GuestDHCP    = "169.254.169.15"
	IMDSAddr     = "169.254.169.254"
	AWSAddr      = "169.254.169.2"
	IMDSEndpoint = "http://" + IMDSAddr
	AWSEndpoint  = "http://" + AWSAddr + ":80"
	// no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss
	// its ticks and panic ("IO-APIC + timer doesn't work") before init runs; cloud images
	// boot VMs with it for the same reason.
	defaultAppend = "console=ttyS0 panic=-1 quiet no_timer_check"
)

// Env is what every scenario run shares: assets, the base image and the proxy binary.
type Env struct {
	Root     string // repository root
	Assets   image.Assets
	Work     string // scratch directory (base images, proxy binary)
	LogDir   string // console logs: <LogDir>/<scenario>.log
	QEMU     string // qemu-system-x86_64
	Proxy    string // vmproxy binary
	mu       sync.Mutex
	bases    map[string]string // key → base image path
	baseErrs map[string]error
	reals    map[string]*realImage // tests/images name → its built root filesystem
}

// realImage is one real guest image, built (or found in the cache) once per Env.
type realImage struct {
	once sync.Once
	tar  string
	err  error
}

// NewEnv prepares an Env: finds the assets, builds vmproxy into work.
func NewEnv(root, work string) (*Env, error) {
	a, err := image.FindAssets(root)
	if err != nil {
		return nil, err
	}
	q, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("qemu-system-x86_64 not found (run `make assets`): %w", err)
	}
	e := &Env{Root: root, Assets: a, Work: work, LogDir: filepath.Join(root, ".cache", "vm-logs"), QEMU: q,
		bases: map[string]string{}, baseErrs: map[string]error{}, reals: map[string]*realImage{}}
	if err := os.MkdirAll(e.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	e.Proxy = filepath.Join(work, "vmproxy")
	cmd := exec.Command("go", "build", "-o", e.Proxy, "./tests/cmd/vmproxy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build vmproxy: %w: %s", err, out)
	}
	return e, nil
}

// ImageBuildTimeout bounds one real image build (measured: 2.5–4 min on a loaded machine).
var ImageBuildTimeout = 20 * time.Minute

// realImage returns the root filesystem tarball of tests/images/<name>, running
// tests/images/build.sh once per Env (the script keeps a cache keyed by the package list).
func (e *Env) realImage(name string) (string, error) {
	e.mu.Lock()
	ri := e.reals[name]
	if ri == nil {
		ri = &realImage{}
		e.reals[name] = ri
	}
	e.mu.Unlock()
	ri.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ImageBuildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", filepath.Join(e.Root, "tests", "images", "build.sh"), name)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // mmdebstrap, apt and dpkg with it
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		var stderr bytes.Buffer
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr) // build progress and time
		out, err := cmd.Output()
		if err != nil {
			ri.err = fmt.Errorf("tests/images/build.sh %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
			return
		}
		ri.tar = strings.TrimSpace(string(out))
	})
	return ri.tar, ri.err
}

// Prebuild starts building (or finding in the cache) the real image of every scenario that
// names one, in the background, so that the builds (mostly apt downloads and dpkg) overlap
// the other scenarios' boots instead of holding a VM slot. Run waits for its image as usual.
func (e *Env) Prebuild(scs []*Scenario) {
	seen := map[string]bool{}
	for _, sc := range scs {
		if name := sc.Config.Image; name != "" && !seen[name] {
			seen[name] = true
			go func() { _, _ = e.realImage(name) }() // the error reaches the scenarios through Run
		}
	}
}

// base returns (building once) the base image for a module set and binary choice.
func (e *Env) base(mods []string, noBinaries, real bool) (string, error) {
	all := append(append([]string(nil), image.DefaultModules...), mods...)
	key := fmt.Sprintf("%v|%v|%v", all, noBinaries, real)
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.bases[key]; ok {
		return p, e.baseErrs[key]
	}
	if !noBinaries {
		if err := e.Assets.CheckBinaries(); err != nil {
			e.bases[key], e.baseErrs[key] = "", err
			return "", err
		}
	}
	p := filepath.Join(e.Work, fmt.Sprintf("base-%d.cpio.gz", len(e.bases)))
	err := image.BuildBase(image.Base{Assets: e.Assets, Modules: all, NoBinaries: noBinaries, Real: real}, p)
	e.bases[key], e.baseErrs[key] = p, err
	return p, err
}

// Options change how a scenario runs.
type Options struct {
	Live io.Writer // when set, the console is also copied here as it arrives (make demo)
	// Interactive (make demo IMAGE=...): one boot, no checks, the scenario's connect hint
	// printed to Live with the forwarded ports; each receive on PowerButton presses the
	// ACPI power button.
	Interactive bool
	PowerButton <-chan struct{}
}

// Result is the outcome of one scenario.
type Result struct {
	Name     string
	Problems []string        // empty = pass
	Logs     []string        // console log per boot
	Tail     string          // last lines of the failing boot's console
	Boots    []time.Duration // wall time per boot
}

// Passed reports whether the scenario passed.
func (r *Result) Passed() bool { return len(r.Problems) == 0 }

func (r *Result) fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Run boots a scenario (every boot) and judges it. The error is for harness failures
// (could not start anything); guest failures are Result.Problems.
func (e *Env) Run(ctx context.Context, sc *Scenario, opt Options) (*Result, error) {
	res := &Result{Name: sc.Name}
	c := sc.Config
	work, err := os.MkdirTemp(e.Work, sc.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Name, err)
	}
	defer os.RemoveAll(work)

	mark := time.Now()
	// AWS first: disk serials may come from moto volume ids.
	var moto *Moto
	seeded := &Seeded{}
	if c.AWS {
		moto, err = StartMoto(ctx, filepath.Join(e.LogDir, sc.Name+".moto.log"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		defer moto.Stop()
		if sc.AWSSetup != "" {
			setup, err := LoadAWSSetup(sc.AWSSetup)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sc.Name, err)
			}
			if seeded, err = moto.Seed(ctx, setup, sc.Dir); err != nil {
				return nil, fmt.Errorf("%s: %w", sc.Name, err)
			}
		}
	}

	// Image.
	var setup []string // where the time before the first boot went (in boot 1's log)
	lap := func(what string) {
		setup = append(setup, fmt.Sprintf("%s %s", what, time.Since(mark).Round(10*time.Millisecond)))
		mark = time.Now()
	}
	if c.AWS {
		lap("moto")
	}
	metadata, realTar := sc.Metadata, ""
	if c.Image != "" {
		realTar, err = e.realImage(c.Image)
		lap("real image " + c.Image)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		if metadata == nil {
			if metadata, err = os.ReadFile(filepath.Join(e.Root, "tests", "images", c.Image, "metadata.json")); err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", sc.Name, c.Image, err)
			}
		}
	}
	base, err := e.base(c.Modules, c.NoBinaries || c.InitTar, c.Image != "")
	if err != nil {
		return nil, fmt.Errorf("%s: base image: %w", sc.Name, err)
	}
	overlay := image.Overlay{Metadata: metadata, Dir: sc.Overlay}
	if c.InitTar {
		if overlay.Release, err = e.Assets.ReleaseArchive(); err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
	}
	ov := filepath.Join(work, "overlay.cpio.gz")
	if err := image.BuildOverlay(overlay, ov); err != nil {
		return nil, fmt.Errorf("%s: overlay image: %w", sc.Name, err)
	}
	initrd := filepath.Join(work, "initramfs.cpio.gz")
	if err := image.Concat(initrd, base, ov); err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Name, err)
	}

	lap("base and overlay")
	rootDisk := ""
	if c.RootDisk != nil {
		if rootDisk, err = buildRootDisk(work, *c.RootDisk, realTar, base, ov); err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		lap("root disk")
	}

	// Disks.
	disks, err := makeDisks(work, c.Disks, seeded.VolumeIDs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Name, err)
	}
	before := make([]string, len(disks))
	for i, d := range disks {
		if before[i], err = fileSum(d.path); err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
	}

	state := filepath.Join(work, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Name, err)
	}
	boots := c.Boots
	if opt.Interactive {
		boots = 1
	}
	for boot := 1; boot <= boots; boot++ {
		logName := sc.Name + ".log"
		if boot > 1 {
			logName = fmt.Sprintf("%s.boot%d.log", sc.Name, boot)
		}
		logPath := filepath.Join(e.LogDir, logName)
		res.Logs = append(res.Logs, logPath)
		start := time.Now()
		var setupNote string
		if boot == 1 {
			lap("disks")
			setupNote = "# harness: setup: " + strings.Join(setup, ", ") + "\n"
		}
		console, problems, err := e.boot(ctx, sc, boot, bootSetup{setupNote: setupNote, work: work, initrd: initrd, rootDisk: rootDisk, disks: disks, moto: moto, seeded: seeded, logPath: logPath, live: opt.Live, state: state, interactive: opt.Interactive, powerButton: opt.PowerButton})
		res.Boots = append(res.Boots, time.Since(start))
		if err != nil {
			return nil, fmt.Errorf("%s boot %d: %w", sc.Name, boot, err)
		}
		prefix := ""
		if c.Boots > 1 {
			prefix = fmt.Sprintf("boot %d: ", boot)
		}
		for _, p := range problems {
			res.fail("%s%s", prefix, p)
		}
		for _, p := range Verdict(console, sc.Expect[boot-1], sc.RejectFor(boot)) {
			res.fail("%s%s", prefix, p)
		}
		for _, p := range GapVerdict(console, c.ConsoleGaps) {
			res.fail("%s%s", prefix, p)
		}
		if !res.Passed() {
			res.Tail = tail(console, 40)
			break
		}
	}
	for i, d := range disks {
		if d.spec.Checksum == "" || !res.Passed() {
			continue
		}
		after, err := fileSum(d.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		switch {
		case d.spec.Checksum == "unchanged" && after != before[i]:
			res.fail("disk %d (%s) changed but should not have", i, d.serial)
		case d.spec.Checksum == "changed" && after == before[i]:
			res.fail("disk %d (%s) did not change", i, d.serial)
		}
	}
	return res, nil
}

type disk struct {
	spec     Disk
	path     string
	serial   string
	volumeID string // serial_from_volume's volume id, or ""
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("disk size %q: want a positive number with K, M or G", s)
	}
	return n * mult, nil
}

func makeDisks(work string, specs []Disk, volumeIDs []string) ([]disk, error) {
	var out []disk
	for i, d := range specs {
		size, err := parseSize(d.Size)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(work, fmt.Sprintf("disk%d.img", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
		err = f.Truncate(size)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
		serial, volumeID := d.Serial, ""
		if d.SerialFromVolume != nil {
			v := *d.SerialFromVolume
			if v < 0 || v >= len(volumeIDs) {
				return nil, fmt.Errorf("disk %d: serial_from_volume = %d but aws-setup.toml has %d volumes", i, v, len(volumeIDs))
			}
			volumeID = volumeIDs[v]
			serial = VolumeSerial(volumeID)
		}
		if serial == "" {
			serial = fmt.Sprintf("bootplan-disk%d", i)
		}
		if d.Format != "" {
			args := map[string][]string{"ext4": {"-q", "-F"}, "xfs": {"-q", "-f"}, "btrfs": {"-q", "-f"}}[d.Format]
			if args == nil {
				return nil, fmt.Errorf("disk %d: format %q (want ext4, xfs or btrfs)", i, d.Format)
			}
			cmd := exec.Command("mkfs."+d.Format, append(args, p)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("disk %d: mkfs.%s: %w: %s", i, d.Format, err, out)
			}
		}
		out = append(out, disk{spec: d, path: p, serial: serial, volumeID: volumeID})
	}
	return out, nil
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(Clean(s), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type bootSetup struct {
	work, initrd, logPath string
	rootDisk              string // root_disk image, or "" to boot the initramfs
	disks                 []disk
	moto                  *Moto
	seeded                *Seeded // ids moto gave the aws-setup.toml resources
	live                  io.Writer
	state                 string // checks' $STATE, kept across boots
	hostPorts             []int  // host port of each Config.Forward entry (this boot)
	interactive           bool
	powerButton           <-chan struct{}
	setupNote             string  // written to the log before QEMU's command line
	tap                   *tapNet // network = "tap-…": the boot's namespace (tapnet.go)
}

// qemuArgs builds QEMU's command line for one boot.
func (e *Env) qemuArgs(sc *Scenario, bs bootSetup, imdsPort int, qmpSock string) []string {
	c := sc.Config
	init := "/.easyto/sbin/init"
	if c.Init != "" {
		init = c.Init
	}
	appendLine := []string{"rdinit=" + init, defaultAppend, "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + IMDSEndpoint}
	if bs.tap != nil {
		appendLine = append(appendLine[:2], bs.tap.kernelArgs(bs.moto != nil)...)
	}
	if bs.rootDisk != "" {
		appendLine[0] = RootKernelArgs + " init=" + init
	}
	if bs.moto != nil && bs.tap == nil {
		appendLine = append(appendLine, "AWS_ENDPOINT_URL="+AWSEndpoint)
	}
	appendLine = append(appendLine, c.Append...)
	args := []string{
		"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(c.Memory),
		"-nographic", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-kernel", e.Assets.Vmlinuz,
		"-append", strings.Join(appendLine, " "),
	}
	if bs.rootDisk == "" {
		args = append(args, "-initrd", bs.initrd)
	} else { // first NVMe controller: nvme0n1
		args = append(args, "-drive", "file="+bs.rootDisk+",if=none,id=root,format=raw",
			"-device", "nvme,serial=bootplan-root,drive=root")
	}
	if c.Q35 || qmpSock != "" {
		args = append(args, "-M", "q35")
	}
	if qmpSock != "" {
		args = append(args, "-qmp", "unix:"+qmpSock+",server=on,wait=off")
	}
	// NIC 0: IMDS (and moto) reachable through per-connection proxies.
	fwd := func(addr string, port int) string {
		return fmt.Sprintf(",guestfwd=tcp:%s:80-cmd:%s 127.0.0.1:%d", addr, e.Proxy, port)
	}
	n0 := "user,id=n0,restrict=on,net=" + GuestNet + ",host=" + GuestHost + ",dhcpstart=" + GuestDHCP + fwd(IMDSAddr, imdsPort)
	if bs.moto != nil {
		n0 += fwd(AWSAddr, bs.moto.Port)
	}
	// Host → guest ports (restrict=on still allows hostfwd), on loopback only.
	for i, f := range c.Forward {
		if fw, err := ParseForward(f); err == nil && i < len(bs.hostPorts) {
			n0 += fmt.Sprintf(",hostfwd=%s:127.0.0.1:%d-:%d", fw.Proto, bs.hostPorts[i], fw.Port)
		}
	}
	if bs.tap != nil {
		args = append(args, bs.tap.netdevArgs(imdsmock.DefaultMACs[0])...)
	} else {
		args = append(args, "-netdev", n0, "-device", "virtio-net-pci,netdev=n0,romfile=,mac="+imdsmock.DefaultMACs[0])
	}
	for i := 1; i < c.NICs; i++ {
		args = append(args,
			"-netdev", fmt.Sprintf("user,id=n%d,restrict=on,net=169.254.%d.0/24", i, 169+i),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=n%d,romfile=,mac=%s", i, macFor(i)))
	}
	for i, d := range bs.disks {
		if d.spec.Hotplug {
			continue
		}
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,if=none,id=d%d,format=raw", d.path, i),
			"-device", fmt.Sprintf("nvme,serial=%s,drive=d%d", d.serial, i))
	}
	if qmpSock != "" && (c.Q35 || hasHotplug(c)) {
		for i := range bs.disks {
			if bs.disks[i].spec.Hotplug {
				args = append(args, "-device", fmt.Sprintf("pcie-root-port,id=rp%d,slot=%d,chassis=%d", i, i+1, i+1))
			}
		}
	}
	return args
}

func hasHotplug(c Config) bool {
	for _, a := range c.Actions {
		if a.Do == "hotplug" {
			return true
		}
	}
	return false
}

func macFor(i int) string {
	if i < len(imdsmock.DefaultMACs) {
		return imdsmock.DefaultMACs[i]
	}
	return fmt.Sprintf("52:54:00:12:34:%02x", 0x56+i)
}

// boot runs QEMU once and returns the console text and harness-level problems (timeout,
// QEMU exit status).
func (e *Env) boot(ctx context.Context, sc *Scenario, bootN int, bs bootSetup) (string, []string, error) {
	c := sc.Config
	macs := make([]string, c.NICs)
	for i := range macs {
		macs[i] = macFor(i)
	}
	var instanceID, az string
	if bs.seeded != nil && len(bs.seeded.InstanceIDs) > 0 {
		instanceID, az = bs.seeded.InstanceIDs[0], bs.seeded.InstanceAZs[0]
	}
	imds, err := imdsmock.New(imdsmock.Config{
		InstanceID: instanceID, AZ: az,
		UserData: sc.UserData, GzipUserData: c.GzipUserData, MACs: macs,
		NoPublicKey: c.IMDS.NoPublicKey, NoRole: c.IMDS.NoRole,
		SpotDelay: c.SpotDelay.Duration, SpotAction: c.IMDS.SpotAction, Extra: c.IMDS.Metadata,
		Faults: imdsmock.Faults{Delay: c.IMDS.Delay.Duration, Fail500First: c.IMDS.Fail500First,
			DropFirst: c.IMDS.DropFirst, TokenLifetime: c.IMDS.TokenLifetime.Duration},
	})
	if err != nil {
		return "", nil, err
	}
	addr, err := imds.Start("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		imds.Close()
		_ = os.WriteFile(strings.TrimSuffix(bs.logPath, ".log")+".imds.log", []byte(strings.Join(imds.Log(), "\n")+"\n"), 0o644)
	}()
	port, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	if IsTap(c.Network) {
		awsPort := 0
		if bs.moto != nil {
			awsPort = bs.moto.Port
		}
		tn, err := startTapNet(c.Network, strings.TrimSuffix(bs.logPath, ".log")+".dnsmasq.log", port, awsPort)
		if err != nil {
			return "", nil, err
		}
		defer tn.close() // also when the boot fails or times out
		bs.tap = tn
	}

	var actions []Action
	for _, a := range c.Actions {
		if a.Boot == 0 || a.Boot == bootN {
			actions = append(actions, a)
		}
	}
	var checks []Check
	for _, ch := range c.Checks {
		if bs.interactive {
			break // the person at the console is the check
		}
		if ch.Boot == 0 || ch.Boot == bootN {
			checks = append(checks, ch)
		}
	}
	needQMP := false
	for _, ch := range checks {
		needQMP = needQMP || ch.Powerdown
	}
	if bs.hostPorts, err = freePorts(c.Forward); err != nil {
		return "", nil, err
	}
	qmpSock := ""
	if len(actions) > 0 || c.Q35 || needQMP || bs.powerButton != nil {
		qmpSock = filepath.Join(bs.work, fmt.Sprintf("qmp%d.sock", bootN))
	}
	args := e.qemuArgs(sc, bs, port, qmpSock)

	logf, err := os.Create(bs.logPath)
	if err != nil {
		return "", nil, fmt.Errorf("console log: %w", err)
	}
	defer logf.Close()

	bctx, cancel := context.WithTimeout(ctx, c.Timeout.Duration)
	defer cancel()
	if bs.interactive && bs.live != nil {
		printConnect(bs.live, sc, bootN, bs)
	}
	cmd := exec.Command(e.QEMU, args...)
	if bs.tap != nil {
		cmd = bs.tap.qemuCommand(e.QEMU, args)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("qemu stdout: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_, _ = logf.WriteString(bs.setupNote)
	fmt.Fprintf(logf, "# qemu %s\n", strings.Join(args, " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start qemu: %w", err)
	}
	killed := false
	var killMu sync.Mutex
	kill := func() {
		killMu.Lock()
		defer killMu.Unlock()
		if !killed && cmd.Process != nil {
			killed = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}

	// Console reader: log file, live copy, line triggers.
	var (
		conMu   sync.Mutex
		console strings.Builder
		lineCh  = make(chan string, 1024)
		readEnd = make(chan struct{})
	)
	go func() {
		defer close(readEnd)
		defer close(lineCh)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				conMu.Lock()
				console.WriteString(line)
				conMu.Unlock()
				_, _ = logf.WriteString(line)
				if bs.live != nil {
					_, _ = io.WriteString(bs.live, Clean(line))
				}
				select {
				case lineCh <- line:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()

	var problems []string
	var probMu sync.Mutex
	addProblem := func(p string) {
		probMu.Lock()
		problems = append(problems, p)
		probMu.Unlock()
	}
	// Actions (each fires once) and the expect-based stop for scenarios that do not power
	// off. fired is only touched by the watcher goroutine.
	fired := make([]bool, len(actions))
	checked := make([]bool, len(checks))
	var actionsWG sync.WaitGroup
	hostLine := func(l string) { // a check's output joins the transcript
		l = "[host] " + l + "\n"
		conMu.Lock()
		console.WriteString(l)
		conMu.Unlock()
		_, _ = logf.WriteString(l)
		if bs.live != nil {
			_, _ = io.WriteString(bs.live, l)
		}
	}
	runCheck := func(i int) {
		if checked[i] {
			return
		}
		checked[i] = true
		actionsWG.Add(1)
		go func(ch Check) {
			defer actionsWG.Done()
			err := e.runCheck(bctx, sc, ch, bootN, bs, hostLine)
			if err != nil && bctx.Err() == nil {
				addProblem(fmt.Sprintf("check on %q: %v", ch.On, err))
			}
			if ch.Powerdown && bctx.Err() == nil {
				if err := qmpAction(bctx, qmpSock, Action{Do: "powerdown"}, bs.disks); err != nil && bctx.Err() == nil {
					addProblem(fmt.Sprintf("qmp powerdown after check: %v", err))
				}
			}
		}(checks[i])
	}
	fire := func(i int) {
		if fired[i] {
			return
		}
		fired[i] = true
		actionsWG.Add(1)
		go func(a Action) {
			defer actionsWG.Done()
			if err := qmpAction(bctx, qmpSock, a, bs.disks); err != nil && bctx.Err() == nil {
				addProblem(fmt.Sprintf("qmp %s: %v", a.Do, err))
			}
		}(actions[i])
	}
	// on_attach hotplugs: poll moto until the disk's volume is attached, then fire.
	attachCh := make(chan int, len(actions))
	for i, a := range actions {
		if !a.OnAttach {
			continue
		}
		dk := bs.disks[a.Disk]
		actionsWG.Add(1)
		go func() {
			defer actionsWG.Done()
			iid, dev, err := bs.moto.WaitAttached(bctx, dk.volumeID)
			if err != nil {
				if bctx.Err() == nil {
					addProblem(fmt.Sprintf("on_attach: %v", err))
				}
				return
			}
			fmt.Fprintf(logf, "# harness: moto shows %s attached to %s as %s after %s: hot-plugging disk %d\n",
				dk.volumeID, iid, dev, time.Since(start).Round(100*time.Millisecond), a.Disk)
			attachCh <- i
		}()
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case line, ok := <-lineCh:
				if !ok {
					return
				}
				for i, a := range actions {
					if a.On != "" && !a.OnAttach && strings.Contains(line, a.On) {
						fire(i)
					}
				}
				for i, ch := range checks {
					if strings.Contains(Clean(line), ch.On) {
						runCheck(i)
					}
				}
				if c.NoPoweroff {
					conMu.Lock()
					s := console.String()
					conMu.Unlock()
					if len(sc.Expect[bootN-1]) > 0 && len(Verdict(s, sc.Expect[bootN-1], nil)) == 0 {
						// give the guest a moment to print anything rejected, then stop it
						time.Sleep(500 * time.Millisecond)
						kill()
						return
					}
				}
			case i := <-attachCh:
				fire(i)
			case <-bs.powerButton: // nil unless interactive: never ready
				actionsWG.Add(1)
				go func() {
					defer actionsWG.Done()
					if err := qmpAction(bctx, qmpSock, Action{Do: "powerdown"}, bs.disks); err != nil && bctx.Err() == nil {
						addProblem(fmt.Sprintf("qmp powerdown: %v", err))
					}
				}()
			case <-tick.C:
				for i, a := range actions {
					if a.On == "" && a.After.Duration > 0 && time.Since(start) >= a.After.Duration {
						fire(i)
					}
				}
			case <-bctx.Done():
				return
			}
		}
	}()

	waitErr := make(chan error, 1)
	go func() {
		<-readEnd
		waitErr <- cmd.Wait()
	}()
	var werr error
	timedOut := false
	select {
	case werr = <-waitErr:
	case <-bctx.Done():
		timedOut = ctx.Err() == nil
		kill()
		select {
		case werr = <-waitErr:
		case <-time.After(10 * time.Second):
			werr = errors.New("qemu did not exit after SIGKILL")
		}
	}
	cancel()
	<-watchDone
	actionsWG.Wait()
	conMu.Lock()
	out := console.String()
	conMu.Unlock()
	elapsed := time.Since(start).Round(100 * time.Millisecond)
	fmt.Fprintf(logf, "\n# qemu ended after %s: %v\n", elapsed, werr)
	if se := strings.TrimSpace(stderr.String()); se != "" {
		fmt.Fprintf(logf, "# qemu stderr: %s\n", se)
	}
	switch {
	case ctx.Err() != nil:
		return out, nil, fmt.Errorf("interrupted: %w", ctx.Err())
	case timedOut && !c.NoPoweroff:
		problems = append(problems, fmt.Sprintf("timeout: the guest did not power off within %s", c.Timeout.Duration))
	case c.NoPoweroff:
		// stopped by us (or timed out): the expect lines decide
	case werr != nil:
		problems = append(problems, fmt.Sprintf("qemu failed: %v: %s", werr, strings.TrimSpace(stderr.String())))
	}
	return out, problems, nil
}

// printConnect tells the person at the console where the forwarded ports are and how the
// scenario says to connect (its connect hint, $HOST and $PORT_<n> expanded).
func printConnect(w io.Writer, sc *Scenario, bootN int, bs bootSetup) {
	env := map[string]string{}
	for _, kv := range CheckEnv(sc, bootN, bs.state, bs.hostPorts)[len(os.Environ()):] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for i, f := range sc.Config.Forward {
		if i < len(bs.hostPorts) {
			fmt.Fprintf(w, "==> guest %s is forwarded to 127.0.0.1:%d\n", f, bs.hostPorts[i])
		}
	}
	if sc.Config.Connect != "" {
		fmt.Fprintf(w, "==> once it is up, connect from another terminal with:\n    %s\n", os.Expand(sc.Config.Connect, func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return "$" + k
		}))
	}
	fmt.Fprintf(w, "==> Ctrl-C presses the power button (twice: stops QEMU)\n")
}

// freePorts picks a free loopback port for each forward entry.
func freePorts(forward []string) ([]int, error) {
	var ports []int
	for _, f := range forward {
		fw, err := ParseForward(f)
		if err != nil {
			return nil, err
		}
		var p int
		if fw.Proto == "udp" {
			l, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("forward %s: %w", f, err)
			}
			p = l.LocalAddr().(*net.UDPAddr).Port
			l.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("forward %s: %w", f, err)
			}
			p = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// CheckEnv is the environment of a check script.
func CheckEnv(sc *Scenario, bootN int, state string, hostPorts []int) []string {
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("BOOT=%d", bootN),
		"SCENARIO_DIR="+sc.Dir, "STATE="+state)
	for i, f := range sc.Config.Forward {
		if fw, err := ParseForward(f); err == nil && i < len(hostPorts) {
			env = append(env, fmt.Sprintf("PORT_%d=%d", fw.Port, hostPorts[i]))
		}
	}
	return env
}

// runCheck runs one check script, feeding its output lines to line, bounded by its timeout.
func (e *Env) runCheck(ctx context.Context, sc *Scenario, ch Check, bootN int, bs bootSetup, line func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, ch.Timeout.Duration)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-ec", ch.Run)
	cmd.Dir = sc.Dir
	cmd.Env = CheckEnv(sc, bootN, bs.state, bs.hostPorts)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("did not finish within %s", ch.Timeout.Duration)
	}
	if err != nil {
		return fmt.Errorf("failed: %v (its output is in the console log as [host] lines)", err)
	}
	return nil
}

// qmpAction connects to QEMU's QMP socket and performs one action.
func qmpAction(ctx context.Context, sock string, a Action, disks []disk) error {
	var d net.Dialer
	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ { // the socket appears shortly after QEMU starts
		if conn, err = d.DialContext(ctx, "unix", sock); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("connect %s: %w", sock, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(conn)
	enc := json.NewEncoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	call := func(cmd string, args map[string]any) error {
		msg := map[string]any{"execute": cmd}
		if args != nil {
			msg["arguments"] = args
		}
		if err := enc.Encode(msg); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		for {
			var resp map[string]any
			if err := dec.Decode(&resp); err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
			if _, ok := resp["event"]; ok {
				continue
			}
			if e, ok := resp["error"]; ok {
				return fmt.Errorf("%s: %v", cmd, e)
			}
			return nil
		}
	}
	if err := call("qmp_capabilities", nil); err != nil {
		return err
	}
	switch a.Do {
	case "powerdown":
		return call("system_powerdown", nil)
	case "hotplug":
		dk := disks[a.Disk]
		node := fmt.Sprintf("hp%d", a.Disk)
		if err := call("blockdev-add", map[string]any{
			"driver": "raw", "node-name": node,
			"file": map[string]any{"driver": "file", "filename": dk.path},
		}); err != nil {
			return err
		}
		return call("device_add", map[string]any{
			"driver": "nvme", "id": fmt.Sprintf("nvme-hp%d", a.Disk), "bus": fmt.Sprintf("rp%d", a.Disk),
			"serial": dk.serial, "drive": node,
		})
	}
	return fmt.Errorf("unknown action %q", a.Do)
}
