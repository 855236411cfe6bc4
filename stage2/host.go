package stage2

import (
	"context"
	"io"
	"io/fs"
	"syscall"
	"time"
)

// Host is the seam between stage two's logic and the machine. Every effect on the machine goes
// through it: the Linux implementation (LinuxHost) makes it real, the sandbox implementation
// (SandboxHost) writes files under a root directory and records every other effect in an
// ordered journal, so `bootplan replay` and the tests run the same steps as a boot.
//
// Paths are always as seen on the machine ("/etc/ledger/config.toml"); the sandbox maps them
// under its root and refuses any that would leave it.
type Host interface {
	DiskHost

	// Files.
	ReadFile(path string) ([]byte, error)
	Lstat(path string) (fs.FileInfo, error)
	Stat(path string) (fs.FileInfo, error)
	ReadDir(path string) ([]fs.DirEntry, error)
	// MkdirAll creates path and its missing parents with perm and returns the directories it
	// created (outermost first), so callers chown only what they made.
	MkdirAll(path string, perm fs.FileMode) (created []string, err error)
	// WriteFileAtomic writes a new file under an unpredictable name in the same directory
	// (internal/fsutil: O_EXCL, never through a planted link or FIFO), chowns (uid/gid < 0 =
	// leave), chmods (setuid/setgid/sticky kept), fsyncs, renames over path and fsyncs the
	// directory.
	WriteFileAtomic(path string, data []byte, perm fs.FileMode, uid, gid int) error
	// WriteFileBeneath writes base/rel as WriteFileAtomic does, but never follows a symlink
	// at any component of rel, even one planted while it runs (the workload may own the
	// directories below base): missing directories of rel are created 0755 and given
	// uid:gid. It returns the directories it created (outermost first).
	WriteFileBeneath(base, rel string, data []byte, perm fs.FileMode, uid, gid int) (created []string, err error)
	Chown(path string, uid, gid int) error
	Chmod(path string, perm fs.FileMode) error
	Remove(path string) error
	Symlink(target, link string) error

	// Block devices, filesystems and mounts.
	// ReadDevice reads up to n bytes at off from a block device (signature probing).
	ReadDevice(path string, off int64, n int) ([]byte, error)
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	RemountRootReadonly() error
	Sync()

	// Kernel.
	// LoadModule loads one module file with finit_module; "already loaded" is success.
	LoadModule(path string, params string) error
	WriteSysctl(name, value string) error
	SetHostname(name string) error
	// SetNofile sets PID 1's RLIMIT_NOFILE soft and hard to n; every process it starts
	// afterwards inherits it (container parity).
	SetNofile(n uint64) error

	// Processes. Run starts cmd and waits for it (through the reaper on the real host).
	Run(ctx context.Context, cmd Cmd) (ExitStatus, error)
	// Start starts cmd and returns its pid without waiting: the supervisor's reaper owns the
	// wait for every child of PID 1.
	Start(cmd Cmd) (pid int, err error)
	// Exec replaces the current process (replace-init). It returns only on failure.
	Exec(cmd Cmd) error
	// Reboot powers off (syscall.LINUX_REBOOT_CMD_POWER_OFF) or reboots the machine.
	Reboot(cmd int) error

	// Journal returns the recorded effects (sandbox) or nil (real host).
	Journal() []JournalEntry
}

// Cmd is a process to start.
type Cmd struct {
	Name string   // label for logs and the sandbox journal ("init-script-0", "command"); optional
	Path string   // absolute path of the program
	Args []string // argv, Args[0] included
	// ShownArgs is argv as logs and the sandbox journal show it: the plan's argv with its
	// $(VAR) references unexpanded, because the expanded Args may hold secret values
	// (--password=$(DB_PASSWORD)). Nil: Args are shown (they hold no expansion).
	ShownArgs  []string
	Env        []string // NAME=VALUE, the complete environment
	Dir        string
	UID, GID   uint32
	Groups     []uint32
	Setsid     bool // own session and process group
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	Credential bool // set uid/gid/groups (false: inherit root's)
}

// Shown names the program for logs and errors: ShownArgs[0] (the plan's unexpanded argv[0]
// or the resolved path), else Path, else Args[0].
func (c Cmd) Shown() string {
	switch {
	case len(c.ShownArgs) > 0:
		return c.ShownArgs[0]
	case c.Path != "":
		return c.Path
	case len(c.Args) > 0:
		return c.Args[0]
	}
	return ""
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	Pid      int
	Code     int            // exit code when Exited
	Signal   syscall.Signal // terminating signal when !Exited
	Exited   bool
	Duration time.Duration
}

// JournalEntry is one recorded effect of the sandbox host.
type JournalEntry struct {
	Op     string // "mkdir", "write", "chown", "mount", "mkfs", "module", "sysctl", "run", ...
	Detail string // human-readable, never a secret value
}
