package stage2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/fsutil"
	"github.com/bootplan/bootplan/internal/kmod"
	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/plan"
)

// LinuxHost is the real machine. Processes are started through the process's one reaper
// (PID 1 must never wait for a child any other way); without a reaper (a plain process,
// tests) Run waits for its own child with wait4 on that pid.
type LinuxHost struct {
	Reaper *reaper.Reaper
}

// NewLinuxHost returns the real host using r for every child.
func NewLinuxHost(r *reaper.Reaper) *LinuxHost { return &LinuxHost{Reaper: r} }

func (h *LinuxHost) Lstat(p string) (fs.FileInfo, error)     { return os.Lstat(p) }
func (h *LinuxHost) Stat(p string) (fs.FileInfo, error)      { return os.Stat(p) }
func (h *LinuxHost) ReadDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(p) }
func (h *LinuxHost) Chmod(p string, perm fs.FileMode) error  { return os.Chmod(p, perm) }
func (h *LinuxHost) Remove(p string) error                   { return os.Remove(p) }
func (h *LinuxHost) Symlink(target, link string) error       { return os.Symlink(target, link) }
func (h *LinuxHost) Journal() []JournalEntry                 { return nil }
func (h *LinuxHost) Sync()                                   { unix.Sync() }
func (h *LinuxHost) Unmount(target string, flags int) error {
	return wrapErr("umount", target, unix.Unmount(target, flags))
}
func (h *LinuxHost) Reboot(cmd int) error { return unix.Reboot(cmd) }
func (h *LinuxHost) SetHostname(name string) error {
	return wrapErr("sethostname", name, unix.Sethostname([]byte(name)))
}

// SetNofile goes through the syscall package on purpose: its Setrlimit also drops the limit
// the Go runtime saved at start, which it would otherwise restore in every child.
func (h *LinuxHost) SetNofile(n uint64) error {
	return wrapErr("setrlimit", "RLIMIT_NOFILE", syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}))
}
func (h *LinuxHost) Chown(p string, uid, gid int) error { return os.Lchown(p, uid, gid) }
func (h *LinuxHost) RemountRootReadonly() error {
	return h.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

func wrapErr(op, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}

func (h *LinuxHost) MkdirAll(p string, perm fs.FileMode) ([]string, error) {
	p = filepath.Clean(p)
	var missing []string
	for cur := p; ; cur = filepath.Dir(cur) {
		fi, err := os.Stat(cur)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("mkdir %s: %s is not a directory", p, cur)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, cur)
		if cur == "/" || cur == "." {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return created, err
		} else if err == nil {
			// Mkdir honours the umask; make the mode exact.
			if err := os.Chmod(missing[i], perm); err != nil {
				return created, err
			}
			created = append(created, missing[i])
		}
	}
	return created, nil
}

func (h *LinuxHost) WriteFileAtomic(p string, data []byte, perm fs.FileMode, uid, gid int) error {
	return fsutil.WriteAtomic(p, data, perm, uid, gid)
}

// ReadFile reads a regular file and never waits on a FIFO (fsutil.ReadFile).
func (h *LinuxHost) ReadFile(p string) ([]byte, error) { return fsutil.ReadFile(p) }

func (h *LinuxHost) WriteFileBeneath(base, rel string, data []byte, perm fs.FileMode, uid, gid int) ([]string, error) {
	return fsutil.WriteBeneath(base, rel, data, perm, uid, gid, uid, gid)
}

func (h *LinuxHost) ReadDevice(p string, off int64, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

func (h *LinuxHost) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", source, target, fstype, err)
	}
	return nil
}

// loadModuleFile is the one module-file loader shared with stage one and the power-button
// code (kmod.LoadFile: finit_module with the compressed-file flag for .ko.xz/.gz/.zst,
// EEXIST is success). A variable so tests can see what LoadModule hands it.
var loadModuleFile = kmod.LoadFile

// LoadModule loads one module file through kmod.LoadFile.
func (h *LinuxHost) LoadModule(p string, params string) error {
	return loadModuleFile(p, params)
}

func (h *LinuxHost) WriteSysctl(name, value string) error {
	rel, err := plan.SysctlPath(name) // dot or slash form, read as sysctl(8) does
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	f, err := os.OpenFile("/proc/sys/"+rel, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	return nil
}

func fdOf(v any, def *os.File) uintptr {
	if f, ok := v.(*os.File); ok && f != nil {
		return f.Fd()
	}
	return def.Fd()
}

func procAttr(cmd Cmd) *syscall.ProcAttr {
	env := cmd.Env
	if env == nil {
		env = []string{}
	}
	dir := cmd.Dir
	if dir == "" {
		dir = "/"
	}
	sys := &syscall.SysProcAttr{Setsid: cmd.Setsid}
	if cmd.Credential {
		groups := cmd.Groups
		if groups == nil {
			groups = []uint32{}
		}
		sys.Credential = &syscall.Credential{Uid: cmd.UID, Gid: cmd.GID, Groups: groups}
	}
	var stdin, stdout, stderr any
	if cmd.Stdin != nil {
		stdin = cmd.Stdin
	}
	if cmd.Stdout != nil {
		stdout = cmd.Stdout
	}
	if cmd.Stderr != nil {
		stderr = cmd.Stderr
	}
	return &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{fdOf(stdin, os.Stdin), fdOf(stdout, os.Stdout), fdOf(stderr, os.Stderr)},
		Sys:   sys,
	}
}

// StartReaped forks and execs cmd through r (the pid is registered with the fork, so the exit
// can never be missed) and returns its pid and exit channel. It is the one way PID 1 starts a
// child: LinuxHost and the supervisor (main process, services) both use it. Stdio that is
// not an *os.File is PID 1's own; an empty Path is Args[0].
func StartReaped(r *reaper.Reaper, cmd Cmd) (int, <-chan reaper.Status, error) {
	return r.Start(cmdPath(cmd), cmd.Args, procAttr(cmd))
}

func cmdPath(cmd Cmd) string {
	if cmd.Path == "" && len(cmd.Args) > 0 {
		return cmd.Args[0]
	}
	return cmd.Path
}

// Start forks and execs cmd through the reaper and returns the pid; the caller waits through
// the reaper. Stdin/Stdout/Stderr must be *os.File (anything else inherits PID 1's).
func (h *LinuxHost) Start(cmd Cmd) (int, error) {
	if h.Reaper == nil {
		return syscall.ForkExec(cmdPath(cmd), cmd.Args, procAttr(cmd))
	}
	pid, _, err := StartReaped(h.Reaper, cmd)
	return pid, err
}

// Run starts cmd and waits for it (through the reaper). The context kills the child (SIGKILL)
// when it ends first; the wait is still for the child's actual exit.
func (h *LinuxHost) Run(ctx context.Context, cmd Cmd) (ExitStatus, error) {
	start := time.Now()
	var (
		pid int
		ch  <-chan reaper.Status
		err error
	)
	if h.Reaper != nil {
		pid, ch, err = StartReaped(h.Reaper, cmd)
	} else {
		pid, err = syscall.ForkExec(cmdPath(cmd), cmd.Args, procAttr(cmd))
		if err == nil {
			c := make(chan reaper.Status, 1)
			ch = c
			go func(pid int) {
				var ws unix.WaitStatus
				for {
					_, err := unix.Wait4(pid, &ws, 0, nil)
					if err != unix.EINTR {
						break
					}
				}
				c <- reaper.Status{Pid: pid, WaitStatus: ws}
			}(pid)
		}
	}
	if err != nil {
		return ExitStatus{}, err
	}
	var st reaper.Status
	select {
	case st = <-ch:
	case <-ctx.Done():
		_ = unix.Kill(pid, unix.SIGKILL)
		st = <-ch
	}
	es := ExitStatus{Pid: pid, Duration: time.Since(start)}
	if st.WaitStatus.Signaled() {
		es.Signal = st.WaitStatus.Signal()
	} else {
		es.Exited, es.Code = true, st.WaitStatus.ExitStatus()
	}
	return es, nil
}

// Exec replaces the process (replace-init): setgroups, setgid, setuid (Go applies them to
// every thread), chdir, execve. It returns only on failure.
//
// PID 1 must still be able to power the machine off when it returns. So the program is
// checked first, while still root (a missing or non-executable program is an ordinary
// failure), and the uid change keeps this one thread's permitted capabilities
// (PR_SET_KEEPCAPS is per thread; the goroutine stays locked to the thread for good, and the
// failure path runs on it): if execve fails after all, CAP_SYS_BOOT is raised back into
// the thread's effective set so the failure path's reboot(2) works.
//
// This leaks nothing into the workload: on a successful execve by a non-root uid the new
// permitted set is computed from file capabilities and the ambient set only — the program
// has no file capabilities given by us and the ambient set is empty — so the kept permitted
// capabilities are dropped by the kernel (and the keep-caps flag is cleared by execve).
func (h *LinuxHost) Exec(cmd Cmd) error {
	check := os.Stat
	if !filepath.IsAbs(cmd.Path) { // execve resolves it after the chdir
		check = func(p string) (fs.FileInfo, error) { return os.Stat(filepath.Join(execDir(cmd), p)) }
	}
	if err := CheckProgram(check, cmd.Path); err != nil {
		return err
	}
	runtime.LockOSThread() // never unlocked: see above
	dropped := false
	if cmd.Credential {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
		groups := make([]int, len(cmd.Groups))
		for i, g := range cmd.Groups {
			groups[i] = int(g)
		}
		if err := unix.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := unix.Setgid(int(cmd.GID)); err != nil {
			return fmt.Errorf("setgid %d: %w", cmd.GID, err)
		}
		if err := unix.Setuid(int(cmd.UID)); err != nil {
			return fmt.Errorf("setuid %d: %w", cmd.UID, err)
		}
		dropped = cmd.UID != 0
	}
	err := execAs(cmd)
	if dropped {
		if cerr := raiseEffective(unix.CAP_SYS_BOOT); cerr != nil {
			console.Errorf("uid %d cannot raise CAP_SYS_BOOT again after the failed execve (power-off will fail): %v", cmd.UID, cerr)
		}
	}
	return err
}

// execAs changes to cmd's directory and execs it; it returns only on failure.
func execAs(cmd Cmd) error {
	dir := execDir(cmd)
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	env := cmd.Env
	if env == nil {
		env = []string{}
	}
	if err := unix.Exec(cmd.Path, cmd.Args, env); err != nil {
		return fmt.Errorf("execve failed: %s: %w", cmd.Path, err)
	}
	return nil
}

func execDir(cmd Cmd) string {
	if cmd.Dir == "" {
		return "/"
	}
	return cmd.Dir
}

// raiseEffective adds caps, which must be in the calling thread's permitted set, to that
// thread's effective set (capset acts on the calling thread only).
func raiseEffective(caps ...int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for _, c := range caps {
		data[c/32].Effective |= 1 << (uint(c) % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

var _ Host = (*LinuxHost)(nil)
