package stage2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/internal/fsutil"
)

// SandboxHost is a Host rooted in a directory, for `bootplan replay` and the tests.
//
// Files are read and written under Root through an os.Root, which resolves every path
// component under the root and refuses any path that would leave it: "..", absolute symlinks
// and relative symlinks pointing outside all fail (so an image tree with absolute symlinks
// cannot be followed through them in the sandbox). Ownership is recorded, not applied (the
// sandbox usually runs unprivileged). Every other effect — mounts, modules, sysctls, hostname,
// processes, reboot — is recorded in an ordered journal and not performed.
//
// Processes: Run records `run ...` and reports success, unless ExecRun is set, in which case
// the command is really run (Path mapped under Root, working directory = Root, the Cmd's
// environment only) and its exit status returned. Start and Exec only record.
type SandboxHost struct {
	Root    string // absolute directory
	ExecRun bool   // really run Run's commands (replay --exec)

	root    *os.Root
	mu      sync.Mutex
	journal []JournalEntry
	nextPid int
}

// NewSandboxHost opens dir (created if missing) as the sandbox root.
func NewSandboxHost(dir string) (*SandboxHost, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox root %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox root: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("sandbox root: %w", err)
	}
	return &SandboxHost{Root: abs, root: r, nextPid: 1000}, nil
}

// Close releases the root directory.
func (h *SandboxHost) Close() error { return h.root.Close() }

func (h *SandboxHost) record(op, format string, args ...any) {
	h.mu.Lock()
	h.journal = append(h.journal, JournalEntry{Op: op, Detail: fmt.Sprintf(format, args...)})
	h.mu.Unlock()
}

// Journal returns a copy of the recorded effects in order.
func (h *SandboxHost) Journal() []JournalEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]JournalEntry(nil), h.journal...)
}

// rel maps a machine path ("/etc/x") to a name relative to the root ("etc/x"). Relative
// paths are taken from /. Paths whose cleaned form climbs above / are refused.
func (h *SandboxHost) rel(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("path %s escapes the sandbox root", p)
		}
	}
	c := path.Clean("/" + p)
	if c == "/" {
		return ".", nil
	}
	return c[1:], nil
}

func (h *SandboxHost) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Report the machine path, not the sandbox-relative name.
		return &fs.PathError{Op: op, Path: p, Err: pe.Err}
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

func (h *SandboxHost) ReadFile(p string) ([]byte, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	b, err := h.root.ReadFile(r)
	return b, h.wrap("open", p, err)
}

func (h *SandboxHost) Lstat(p string) (fs.FileInfo, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	fi, err := h.root.Lstat(r)
	return fi, h.wrap("lstat", p, err)
}

func (h *SandboxHost) Stat(p string) (fs.FileInfo, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	fi, err := h.root.Stat(r)
	return fi, h.wrap("stat", p, err)
}

func (h *SandboxHost) ReadDir(p string) ([]fs.DirEntry, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	f, err := h.root.Open(r)
	if err != nil {
		return nil, h.wrap("open", p, err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	return ents, h.wrap("readdir", p, err)
}

func (h *SandboxHost) MkdirAll(p string, perm fs.FileMode) ([]string, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	if r == "." {
		return nil, nil
	}
	var created []string
	cur := ""
	for _, c := range strings.Split(r, "/") {
		if cur == "" {
			cur = c
		} else {
			cur += "/" + c
		}
		fi, err := h.root.Stat(cur)
		if err == nil {
			if !fi.IsDir() {
				return created, fmt.Errorf("mkdir %s: /%s is not a directory", p, cur)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return created, h.wrap("mkdir", "/"+cur, err)
		}
		if err := h.root.Mkdir(cur, perm); err != nil {
			// Volume steps run in parallel: another one may have made this directory
			// between the Stat and the Mkdir. That is success, not ours to report.
			if errors.Is(err, fs.ErrExist) {
				if fi, serr := h.root.Stat(cur); serr == nil && fi.IsDir() {
					continue
				}
			}
			return created, h.wrap("mkdir", "/"+cur, err)
		}
		created = append(created, "/"+cur)
		h.record("mkdir", "/%s (%04o)", cur, uint32(perm.Perm()))
	}
	return created, nil
}

func (h *SandboxHost) WriteFileAtomic(p string, data []byte, perm fs.FileMode, uid, gid int) error {
	r, err := h.rel(p)
	if err != nil {
		return err
	}
	if r == "." {
		return fmt.Errorf("write %s: is the root directory", p)
	}
	// The owner is recorded, not applied: the sandbox runs unprivileged.
	if err := fsutil.WriteAtomicIn(h.root, r, data, perm, -1, -1); err != nil {
		return h.wrap("write", p, err)
	}
	h.record("write", "%s (%04o, %s, %d bytes)", path.Clean("/"+r), modeBits(perm), owner(uid, gid), len(data))
	return nil
}

// WriteFileBeneath refuses a symlink at any directory of rel, then creates the missing ones
// (chowns recorded) and writes the file. The sandbox is not raced by a workload, so checking
// first is enough here; the machine's host does it race-free.
func (h *SandboxHost) WriteFileBeneath(base, rel string, data []byte, perm fs.FileMode, uid, gid int) ([]string, error) {
	full := path.Join(base, rel)
	cur := base
	comps := strings.Split(rel, "/")
	for _, c := range comps[:len(comps)-1] {
		cur = path.Join(cur, c)
		fi, err := h.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("write %s: %s %w", full, cur, fsutil.ErrSymlinkInPath)
		}
	}
	created, err := h.MkdirAll(path.Dir(full), 0o755)
	if err != nil {
		return created, err
	}
	for _, d := range created {
		if err := h.Chown(d, uid, gid); err != nil {
			return created, err
		}
	}
	return created, h.WriteFileAtomic(full, data, perm, uid, gid)
}

// modeBits is perm as chmod writes it (04755), setuid, setgid and sticky included.
func modeBits(perm fs.FileMode) uint32 {
	b := uint32(perm.Perm())
	if perm&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if perm&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if perm&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

func owner(uid, gid int) string {
	u, g := "-", "-"
	if uid >= 0 {
		u = fmt.Sprint(uid)
	}
	if gid >= 0 {
		g = fmt.Sprint(gid)
	}
	return u + ":" + g
}

// Chown is recorded, not applied.
func (h *SandboxHost) Chown(p string, uid, gid int) error {
	if _, err := h.Lstat(p); err != nil {
		return err
	}
	h.record("chown", "%s %s", p, owner(uid, gid))
	return nil
}

func (h *SandboxHost) Chmod(p string, perm fs.FileMode) error {
	r, err := h.rel(p)
	if err != nil {
		return err
	}
	if err := h.root.Chmod(r, perm); err != nil {
		return h.wrap("chmod", p, err)
	}
	h.record("chmod", "%s %04o", p, modeBits(perm))
	return nil
}

func (h *SandboxHost) Remove(p string) error {
	r, err := h.rel(p)
	if err != nil {
		return err
	}
	if err := h.root.Remove(r); err != nil {
		return h.wrap("remove", p, err)
	}
	h.record("remove", "%s", p)
	return nil
}

func (h *SandboxHost) Symlink(target, link string) error {
	r, err := h.rel(link)
	if err != nil {
		return err
	}
	if err := h.root.Symlink(target, r); err != nil {
		return h.wrap("symlink", link, err)
	}
	h.record("symlink", "%s -> %s", link, target)
	return nil
}

// ReadDevice reads from a file at the device path under the root when there is one (tests
// may place disk images there), else reports the device as missing.
func (h *SandboxHost) ReadDevice(p string, off int64, n int) ([]byte, error) {
	r, err := h.rel(p)
	if err != nil {
		return nil, err
	}
	f, err := h.root.Open(r)
	if err != nil {
		return nil, h.wrap("open", p, err)
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, h.wrap("read", p, err)
	}
	return buf[:m], nil
}

func (h *SandboxHost) Mount(source, target, fstype string, flags uintptr, data string) error {
	d := fmt.Sprintf("%s on %s (%s", source, target, fstype)
	if flags != 0 {
		d += fmt.Sprintf(", flags 0x%x", flags)
	}
	if data != "" {
		d += ", " + data
	}
	h.record("mount", "%s)", d)
	return nil
}

func (h *SandboxHost) Unmount(target string, flags int) error {
	h.record("unmount", "%s", target)
	return nil
}

func (h *SandboxHost) RemountRootReadonly() error {
	h.record("remount", "/ read-only")
	return nil
}

func (h *SandboxHost) Sync() { h.record("sync", "") }

func (h *SandboxHost) LoadModule(p string, params string) error {
	if params != "" {
		h.record("module", "%s %s", p, params)
	} else {
		h.record("module", "%s", p)
	}
	return nil
}

func (h *SandboxHost) WriteSysctl(name, value string) error {
	h.record("sysctl", "%s=%s", name, value)
	return nil
}

func (h *SandboxHost) SetNofile(n uint64) error {
	h.record("rlimit", "NOFILE=%d", n)
	return nil
}

func (h *SandboxHost) SetHostname(name string) error {
	h.record("hostname", "%s", name)
	return nil
}

func describeCmd(cmd Cmd) string {
	args := cmd.Args
	if cmd.ShownArgs != nil {
		args = cmd.ShownArgs // never the expanded argv: it may hold secrets
	}
	s := strings.Join(args, " ")
	if cmd.Name != "" {
		s = cmd.Name + ": " + s
	}
	if cmd.Credential {
		s += fmt.Sprintf(" (uid %d, gid %d", cmd.UID, cmd.GID)
		if len(cmd.Groups) > 0 {
			s += fmt.Sprintf(", groups %v", cmd.Groups)
		}
		s += ")"
	}
	if cmd.Dir != "" && cmd.Dir != "/" {
		s += " in " + cmd.Dir
	}
	return s
}

// Run records the command; with ExecRun it runs it for real (see SandboxHost).
func (h *SandboxHost) Run(ctx context.Context, cmd Cmd) (ExitStatus, error) {
	h.record("run", "%s", describeCmd(cmd))
	if !h.ExecRun {
		return ExitStatus{Exited: true}, nil
	}
	r, err := h.rel(cmd.Path)
	if err != nil {
		return ExitStatus{}, err
	}
	start := time.Now()
	c := exec.CommandContext(ctx, filepath.Join(h.Root, r))
	c.Args = cmd.Args
	c.Env = cmd.Env
	if c.Env == nil {
		c.Env = []string{}
	}
	c.Dir = h.Root
	c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	c.WaitDelay = 5 * time.Second
	err = c.Run()
	st := ExitStatus{Duration: time.Since(start)}
	if c.Process != nil {
		st.Pid = c.Process.Pid
	}
	if c.ProcessState != nil {
		ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			st.Signal = ws.Signal()
		} else {
			st.Exited, st.Code = true, ws.ExitStatus()
		}
		return st, nil
	}
	return st, err
}

// Start records the command and returns a made-up pid.
func (h *SandboxHost) Start(cmd Cmd) (int, error) {
	h.record("start", "%s", describeCmd(cmd))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPid++
	return h.nextPid, nil
}

// Exec records the command and returns nil (a real Exec never returns on success).
func (h *SandboxHost) Exec(cmd Cmd) error {
	h.record("exec", "%s", describeCmd(cmd))
	return nil
}

func (h *SandboxHost) Reboot(cmd int) error {
	if cmd == syscall.LINUX_REBOOT_CMD_POWER_OFF {
		h.record("reboot", "power-off")
	} else {
		h.record("reboot", "restart")
	}
	return nil
}

var _ Host = (*SandboxHost)(nil)
