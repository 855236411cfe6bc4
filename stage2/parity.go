package stage2

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/plan"
)

// Container parity: what every container runtime gives its process, and an image made for one
// therefore assumes. The container-files step provides each unless the image or the user data
// already does (README "Container parity").

// NofileLimit is the open-files limit (soft and hard) container runtimes give, bounded by
// fs.nr_open.
const NofileLimit = 1 << 20

const (
	hostsPath    = "/etc/hosts"
	hostnamePath = "/etc/hostname"
	nrOpenPath   = "/proc/sys/fs/nr_open"
)

// CommandHome is the home step: HOME in the command's environment (after the init scripts,
// which run as root with the environment as the user data and image give it).
func (rt *Runtime) CommandHome(ctx context.Context) error {
	if _, ok := lookupEnv(rt.Env, "HOME"); !ok {
		passwd, _ := rt.Host.ReadFile("/etc/passwd") // none: HOME=/
		home := HomeFor(passwd, rt.Plan.Command.UID)
		rt.Env = append(rt.Env, plan.EnvVar{Name: "HOME", Value: home})
		console.Debugf("container parity: HOME=%s (uid %d)", home, rt.Plan.Command.UID)
	}
	return nil
}

// ContainerFiles is the container-files step: /etc/hosts, /etc/hostname, and RLIMIT_NOFILE
// for everything PID 1 starts from now on (init scripts, command, services).
func (rt *Runtime) ContainerFiles(ctx context.Context) error {
	if err := rt.writeHosts(); err != nil {
		console.Warnf("container parity: %v", err)
	}
	if err := rt.writeHostname(); err != nil {
		console.Warnf("container parity: %v", err)
	}
	nrOpen, _ := rt.Host.ReadFile(nrOpenPath)
	n := NofileFor(nrOpen)
	if err := rt.Host.SetNofile(n); err != nil {
		console.Warnf("container parity: open-files limit %d: %v", n, err)
	}
	return nil
}

func lookupEnv(env []plan.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// HomeFor returns the home directory of uid in passwd contents, or "/" when uid has no entry
// or an empty home (what Docker does).
func HomeFor(passwd []byte, uid uint32) string {
	want := strconv.FormatUint(uint64(uid), 10)
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 6 && f[2] == want && !strings.HasPrefix(l, "#") {
			if f[5] == "" {
				return "/"
			}
			return f[5]
		}
	}
	return "/"
}

// NofileFor returns the open-files limit to set: NofileLimit, or fs.nr_open when that is lower
// (the kernel refuses more); unreadable nr_open → NofileLimit.
func NofileFor(nrOpen []byte) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(string(nrOpen)), 10, 64)
	if err != nil || n == 0 || n >= NofileLimit {
		return NofileLimit
	}
	return n
}

// HostsEntry is one address and its names in /etc/hosts.
type HostsEntry struct {
	Addr  string
	Names []string
}

// WantedHosts returns the entries /etc/hosts must have: localhost on 127.0.0.1 and ::1, and
// the hostname (and its first label, when it is a domain name) on the primary address.
func WantedHosts(address, hostname string) []HostsEntry {
	want := []HostsEntry{{"127.0.0.1", []string{"localhost"}}, {"::1", []string{"localhost"}}}
	if hostname == "" {
		return want
	}
	names := []string{hostname}
	if short, _, ok := strings.Cut(hostname, "."); ok && short != "" {
		names = append(names, short)
	}
	if p, err := netip.ParsePrefix(address); err == nil {
		want = append(want, HostsEntry{p.Addr().String(), names})
	} else if a, err := netip.ParseAddr(address); err == nil {
		want = append(want, HostsEntry{a.String(), names})
	}
	return want
}

// MergeHosts returns the /etc/hosts content with every wanted entry: the existing lines are
// kept as they are and each missing address/name pair is appended. changed is false when
// nothing was missing.
func MergeHosts(existing []byte, want []HostsEntry) (out []byte, changed bool) {
	have := map[string]map[string]bool{} // address → names
	for _, l := range strings.Split(string(existing), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		addr := f[0]
		if a, err := netip.ParseAddr(addr); err == nil {
			addr = a.String()
		}
		if have[addr] == nil {
			have[addr] = map[string]bool{}
		}
		for _, n := range f[1:] {
			have[addr][strings.ToLower(n)] = true
		}
	}
	var add strings.Builder
	for _, w := range want {
		var missing []string
		for _, n := range w.Names {
			if !have[w.Addr][strings.ToLower(n)] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			add.WriteString(w.Addr + "\t" + strings.Join(missing, " ") + "\n")
		}
	}
	if add.Len() == 0 {
		return existing, false
	}
	b := append([]byte(nil), existing...)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, add.String()...), true
}

// writeHosts adds the missing lines to /etc/hosts (created 0644 when the image has none). An
// image's /etc/hosts keeps its lines, mode and owner; a symlink is left alone.
func (rt *Runtime) writeHosts() error {
	perm, uid, gid := fs.FileMode(0o644), 0, 0
	fi, err := rt.Host.Lstat(hostsPath)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		console.Infof("container parity: %s is a symlink; left as the image has it", hostsPath)
		return nil
	case err == nil:
		perm = fi.Mode().Perm()
		uid, gid = ownerOf(fi)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	var existing []byte
	if err == nil {
		if existing, err = rt.Host.ReadFile(hostsPath); err != nil {
			return err
		}
	}
	out, changed := MergeHosts(existing, WantedHosts(rt.Plan.Network.Address, rt.Plan.Network.Hostname))
	if !changed {
		return nil
	}
	if _, err := rt.Host.MkdirAll("/etc", 0o755); err != nil {
		return err
	}
	if err := rt.Host.WriteFileAtomic(hostsPath, out, perm, uid, gid); err != nil {
		return err
	}
	console.Infof("container parity: wrote %s", hostsPath)
	return nil
}

// writeHostname writes /etc/hostname when the image has none and the instance has a hostname.
func (rt *Runtime) writeHostname() error {
	name := rt.Plan.Network.Hostname
	if name == "" {
		return nil
	}
	if _, err := rt.Host.Lstat(hostnamePath); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // the image's own (or unreadable: not ours to replace)
	}
	if _, err := rt.Host.MkdirAll("/etc", 0o755); err != nil {
		return err
	}
	if err := rt.Host.WriteFileAtomic(hostnamePath, []byte(name+"\n"), 0o644, 0, 0); err != nil {
		return err
	}
	console.Infof("container parity: wrote %s", hostnamePath)
	return nil
}

// ownerOf returns the uid and gid of fi, or -1, -1 (keep) when the platform does not say.
func ownerOf(fi fs.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}
