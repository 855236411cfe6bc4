// Package vmrun boots scenarios in QEMU: it loads a scenario folder, builds its image,
// starts the mock IMDS (and moto when asked), runs QEMU with a serial console, and judges
// the console against the scenario's expect/reject lines.
package vmrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// AlwaysReject are console substrings that fail every scenario.
var AlwaysReject = []string{"Kernel panic", "panic:", "goroutine "}

// Duration is a time.Duration written as "5s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// Disk is one NVMe disk attached to the VM.
type Disk struct {
	Size   string `toml:"size"`   // e.g. "100M", "1G" (sparse file)
	Serial string `toml:"serial"` // NVMe serial; default "bootplan-disk<i>"
	// SerialFromVolume: use the id of the moto EC2 volume with this index (aws-setup.toml
	// [[volume]] order) as the serial, without the dash, like EBS does ("vol0123…").
	SerialFromVolume *int   `toml:"serial_from_volume"`
	Format           string `toml:"format"`   // preformat on the host: ext4, xfs or btrfs
	Hotplug          bool   `toml:"hotplug"`  // not present at boot; added by a hotplug action
	Checksum         string `toml:"checksum"` // "unchanged" or "changed" across all boots
}

// IMDS selects mock IMDS behaviour.
type IMDS struct {
	Delay         Duration          `toml:"delay"`
	Fail500First  int               `toml:"fail_first"`
	DropFirst     int               `toml:"drop_first"`
	TokenLifetime Duration          `toml:"token_lifetime"`
	NoRole        bool              `toml:"no_role"`
	NoPublicKey   bool              `toml:"no_public_key"`
	SpotAction    string            `toml:"spot_action"`
	Metadata      map[string]string `toml:"metadata"` // extra/overridden meta-data leaves
}

// Action is a QMP action taken during a boot.
type Action struct {
	Do    string   `toml:"do"`    // "powerdown" or "hotplug"
	After Duration `toml:"after"` // after this long since QEMU started …
	On    string   `toml:"on"`    // … or once this console substring appears
	// OnAttach: hotplug once moto shows the disk's volume (serial_from_volume) attached, as
	// EC2 does after AttachVolume. The runner polls moto every 200 ms during the boot.
	OnAttach bool `toml:"on_attach"`
	Disk     int  `toml:"disk"` // hotplug: index into disks
	Boot     int  `toml:"boot"` // only in this boot (1-based); 0 = every boot
}

// Config is scenario.toml.
type Config struct {
	Description  string   `toml:"description"`
	Timeout      Duration `toml:"timeout"` // per boot; default 60s
	NICs         int      `toml:"nics"`    // default 1
	Memory       int      `toml:"memory"`  // MiB, default 512
	GzipUserData bool     `toml:"gzip_user_data"`
	SpotDelay    Duration `toml:"spot_delay"`
	AWS          bool     `toml:"aws"`
	Boots        int      `toml:"boots"` // default 1
	// NoPoweroff: the guest is not expected to power off by itself; the runner stops QEMU
	// once every expect line has appeared (or at the timeout).
	NoPoweroff bool     `toml:"no_poweroff"`
	Init       string   `toml:"init"`    // rdinit= override (harness self-test only)
	Append     []string `toml:"append"`  // extra kernel command-line words
	Modules    []string `toml:"modules"` // extra kernel modules in the image
	NoBinaries bool     `toml:"no_binaries"`
	// InitTar boots bootplan from a release archive (internal/release, what `make release`
	// ships) unpacked over the image, as easyto's builder does, instead of from bin/.
	InitTar bool `toml:"init_tar"`
	Q35     bool `toml:"q35"`
	// PowerdownAfter / PowerdownOn: shortcuts for an [[action]] do = "powerdown".
	PowerdownAfter Duration `toml:"powerdown_after"`
	PowerdownOn    string   `toml:"powerdown_on"`
	Disks          []Disk   `toml:"disks"`
	// RootDisk: boot from an ext4 root on NVMe (nvme0n1p2, GPT) made of the image instead
	// of the initramfs; the disk may be larger than the image (root volume growth).
	RootDisk *RootDisk `toml:"root_disk"`
	Actions  []Action  `toml:"action"`
	IMDS     IMDS      `toml:"imds"`
	// Image: boot the real guest image tests/images/<Image> (a Debian root filesystem built
	// by tests/images/build.sh) from an ext4 root on NVMe; root_disk defaults to RealRootDisk.
	// The image folder's metadata.json is the default metadata.
	Image string `toml:"image"`
	// Forward: guest ports reachable from the host, "tcp:5432"; each gets a free host port on
	// 127.0.0.1 (QEMU hostfwd), given to checks as $PORT_5432.
	Forward []string `toml:"forward"`
	Checks  []Check  `toml:"check"`
	// Connect: how a person connects while `make demo IMAGE=<scenario>` runs, printed with
	// $HOST and $PORT_<guest port> expanded.
	Connect string `toml:"connect"`
	// Network: "user" (default, QEMU's user network, DHCPv4 only) or a tap mode, "tap-dual"
	// or "tap-v6only" (tapnet.go).
	Network string `toml:"network"`
	// ConsoleGaps bound the guest time between two console lines, read from the kernel
	// timestamps the lines carry ("[  12.208] info: ..."): the guest's clock, not the runner's.
	ConsoleGaps []ConsoleGap `toml:"console_gap"`
}

// Check is a host-side command run during a boot, once a console line appears: it talks to
// the guest through the forwarded ports. Its output joins the console transcript as
// "[host] <line>" lines (so expect files can name them); a non-zero exit is a problem.
type Check struct {
	On   string `toml:"on"`   // console substring that starts the check
	Boot int    `toml:"boot"` // only in this boot (1-based); 0 = every boot
	// Run: a shell script (sh -ec) run in the scenario folder with HOST=127.0.0.1,
	// PORT_<guest port>, BOOT (1-based), SCENARIO_DIR and STATE (a directory kept across the
	// boots of one run).
	Run string `toml:"run"`
	// Powerdown: press the power button once the check has finished (passed or not).
	Powerdown bool     `toml:"powerdown"`
	Timeout   Duration `toml:"timeout"` // default 60s (the boot's timeout bounds it too)
}

// RealRootDisk is the root disk of a real image unless the scenario sets root_disk.
var RealRootDisk = RootDisk{Size: "1G", Partition: "768M"}

// Forwarded is one parsed forward entry.
type Forwarded struct {
	Proto string // tcp or udp
	Port  int
}

// ParseForward parses "tcp:5432" (or "udp:123").
func ParseForward(s string) (Forwarded, error) {
	proto, port, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(port)
	if !ok || (proto != "tcp" && proto != "udp") || err != nil || n < 1 || n > 65535 {
		return Forwarded{}, fmt.Errorf("forward %q: want tcp:PORT or udp:PORT", s)
	}
	return Forwarded{proto, n}, nil
}

// ConsoleGap: the first line containing To comes at most Max (guest time) after the first
// line containing From.
type ConsoleGap struct {
	From string   `toml:"from"`
	To   string   `toml:"to"`
	Max  Duration `toml:"max"`
}

// Scenario is a loaded scenario folder.
type Scenario struct {
	Name     string
	Dir      string
	Config   Config
	UserData []byte     // nil → IMDS answers 404
	Metadata []byte     // nil → image default
	Overlay  string     // overlay/ dir or ""
	AWSSetup string     // aws-setup.toml path or ""
	Expect   [][]string // per boot (index 0 = boot 1)
	Reject   []string   // every boot
	// BootReject: per boot (index 0 = boot 1), from bootN.reject, in addition to Reject.
	BootReject [][]string
}

// RejectFor returns the reject lines of boot n (1-based): reject plus bootN.reject.
func (s *Scenario) RejectFor(n int) []string {
	if n < 1 || n > len(s.BootReject) || len(s.BootReject[n-1]) == 0 {
		return s.Reject
	}
	return append(append([]string(nil), s.Reject...), s.BootReject[n-1]...)
}

// NeedsQMP reports whether the scenario drives QEMU through QMP.
func (s *Scenario) NeedsQMP() bool { return len(s.Config.Actions) > 0 }

// LoadAll loads every scenario folder directly under dir (folders without an expect file or
// scenario.toml are skipped), sorted by name.
func LoadAll(dir string) ([]*Scenario, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	var out []*Scenario
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		if !exists(filepath.Join(d, "expect")) && !exists(filepath.Join(d, "scenario.toml")) {
			continue
		}
		s, err := Load(d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Load reads one scenario folder.
func Load(dir string) (*Scenario, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", dir, err)
	}
	s := &Scenario{Name: filepath.Base(abs), Dir: abs}
	wrap := func(err error) error { return fmt.Errorf("scenario %s: %w", s.Name, err) }
	if p := filepath.Join(abs, "scenario.toml"); exists(p) {
		md, err := toml.DecodeFile(p, &s.Config)
		if err != nil {
			return nil, wrap(err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return nil, wrap(fmt.Errorf("scenario.toml: unknown keys %v", und))
		}
	}
	c := &s.Config
	if p := filepath.Join(abs, "aws-setup.toml"); exists(p) { // before the disk checks
		s.AWSSetup = p
		c.AWS = true
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = 60 * time.Second
	}
	if c.NICs == 0 {
		c.NICs = 1
	}
	if c.Memory == 0 {
		c.Memory = 512
	}
	if c.Boots == 0 {
		c.Boots = 1
	}
	switch c.Network {
	case "":
		c.Network = NetUser
	case NetUser:
	case NetTapDual, NetTapV6:
		if c.NICs != 1 {
			return nil, wrap(fmt.Errorf("network = %q supports one NIC (nics = %d)", c.Network, c.NICs))
		}
	default:
		return nil, wrap(fmt.Errorf("network = %q (want %s, %s or %s)", c.Network, NetUser, NetTapDual, NetTapV6))
	}
	for i, g := range c.ConsoleGaps {
		if g.From == "" || g.To == "" || g.Max.Duration <= 0 {
			return nil, wrap(fmt.Errorf("console_gap %d: needs from, to and max", i))
		}
	}
	if c.PowerdownAfter.Duration > 0 || c.PowerdownOn != "" {
		c.Actions = append(c.Actions, Action{Do: "powerdown", After: c.PowerdownAfter, On: c.PowerdownOn})
	}
	for i, a := range c.Actions {
		switch a.Do {
		case "powerdown":
		case "hotplug":
			if a.Disk < 0 || a.Disk >= len(c.Disks) || !c.Disks[a.Disk].Hotplug {
				return nil, wrap(fmt.Errorf("action %d: hotplug needs disk = index of a disk with hotplug = true", i))
			}
			c.Q35 = true
		default:
			return nil, wrap(fmt.Errorf("action %d: unknown do = %q (want powerdown or hotplug)", i, a.Do))
		}
		if a.OnAttach && (a.Do != "hotplug" || c.Disks[a.Disk].SerialFromVolume == nil) {
			return nil, wrap(fmt.Errorf("action %d: on_attach needs do = \"hotplug\" and a disk with serial_from_volume", i))
		}
		if a.After.Duration == 0 && a.On == "" && !a.OnAttach {
			return nil, wrap(fmt.Errorf("action %d: needs after, on or on_attach", i))
		}
	}
	for _, f := range c.Forward {
		if _, err := ParseForward(f); err != nil {
			return nil, wrap(err)
		}
	}
	for i, ch := range c.Checks {
		if ch.On == "" || strings.TrimSpace(ch.Run) == "" {
			return nil, wrap(fmt.Errorf("check %d: needs on and run", i))
		}
		if ch.Timeout.Duration == 0 {
			c.Checks[i].Timeout.Duration = 60 * time.Second
		}
	}
	if c.Image != "" {
		if !imageNameRe.MatchString(c.Image) {
			return nil, wrap(fmt.Errorf("image = %q: want the name of a folder of tests/images", c.Image))
		}
		if c.RootDisk == nil {
			rd := RealRootDisk
			c.RootDisk = &rd
		}
	}
	for i, d := range c.Disks {
		if d.Size == "" {
			return nil, wrap(fmt.Errorf("disk %d: size is required", i))
		}
		if d.Checksum != "" && d.Checksum != "unchanged" && d.Checksum != "changed" {
			return nil, wrap(fmt.Errorf("disk %d: checksum = %q (want unchanged or changed)", i, d.Checksum))
		}
		if d.SerialFromVolume != nil && !c.AWS {
			return nil, wrap(fmt.Errorf("disk %d: serial_from_volume needs aws = true", i))
		}
	}
	// user data: user-data.yaml, or user-data (any bytes); user-data.gz marker → gzip.
	for _, n := range []string{"user-data.yaml", "user-data"} {
		if b, err := os.ReadFile(filepath.Join(abs, n)); err == nil {
			s.UserData = b
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, wrap(err)
		}
	}
	if exists(filepath.Join(abs, "user-data.gz")) {
		c.GzipUserData = true
	}
	if b, err := os.ReadFile(filepath.Join(abs, "metadata.json")); err == nil {
		s.Metadata = b
	}
	if p := filepath.Join(abs, "overlay"); exists(p) {
		s.Overlay = p
	}
	for b := 1; b <= c.Boots; b++ {
		names := []string{fmt.Sprintf("boot%d.expect", b)}
		if b == 1 {
			names = append(names, "expect")
		}
		var lines []string
		for _, n := range names {
			l, err := readLines(filepath.Join(abs, n))
			if err != nil {
				return nil, wrap(err)
			}
			lines = append(lines, l...)
		}
		s.Expect = append(s.Expect, lines)
		rej, err := readLines(filepath.Join(abs, fmt.Sprintf("boot%d.reject", b)))
		if err != nil {
			return nil, wrap(err)
		}
		s.BootReject = append(s.BootReject, rej)
	}
	rej, err := readLines(filepath.Join(abs, "reject"))
	if err != nil {
		return nil, wrap(err)
	}
	s.Reject = append(rej, AlwaysReject...)
	return s, nil
}

// readLines reads an expect/reject file: one substring per line; blank lines and lines
// starting with "#" are ignored; a missing file is empty.
func readLines(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

var imageNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ansiRe matches terminal escape sequences (SeaBIOS clears the screen).
var ansiRe = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|c)`)

// Clean removes carriage returns and terminal escape sequences from console text.
func Clean(console string) string {
	return ansiRe.ReplaceAllString(strings.ReplaceAll(console, "\r", ""), "")
}

// consoleTimeRe is the kernel-style timestamp stage one and two put before each line.
var consoleTimeRe = regexp.MustCompile(`^\[\s*(\d+)\.(\d{3})\]`)

// GapVerdict checks the console gaps: one problem per gap that is missing or too long.
func GapVerdict(console string, gaps []ConsoleGap) []string {
	at := func(sub string) (time.Duration, bool) {
		for _, l := range strings.Split(Clean(console), "\n") {
			if !strings.Contains(l, sub) {
				continue
			}
			m := consoleTimeRe.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			sec, _ := strconv.Atoi(m[1])
			ms, _ := strconv.Atoi(m[2])
			return time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond, true
		}
		return 0, false
	}
	var problems []string
	for _, g := range gaps {
		from, ok1 := at(g.From)
		to, ok2 := at(g.To)
		switch {
		case !ok1 || !ok2:
			problems = append(problems, fmt.Sprintf("console_gap: no timestamped line with %q and one with %q", g.From, g.To))
		case to-from > g.Max.Duration:
			problems = append(problems, fmt.Sprintf("console_gap: %q came %s after %q (guest clock), more than %s", g.To, to-from, g.From, g.Max.Duration))
		}
	}
	return problems
}

// Verdict judges a console log: every expect line must occur as a substring, no reject line
// may occur. It returns one problem per line, or nil.
func Verdict(console string, expect, reject []string) []string {
	console = Clean(console)
	var problems []string
	for _, e := range expect {
		if !strings.Contains(console, e) {
			problems = append(problems, fmt.Sprintf("missing expected %q", e))
		}
	}
	for _, r := range reject {
		if strings.Contains(console, r) {
			problems = append(problems, fmt.Sprintf("found rejected %q", r))
		}
	}
	return problems
}
