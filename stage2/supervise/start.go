package supervise

import (
	"io"
	"os"
	"syscall"

	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/stage2"
)

// fdOf returns the descriptor behind an io stream when it is a file, else the console's.
func fdOf(x any, def uintptr) uintptr {
	if f, ok := x.(*os.File); ok && f != nil {
		return f.Fd()
	}
	return def
}

// StartCmd forks and execs cmd through the reaper (the pid is registered with the fork, so
// the exit can never be missed) and returns its pid and exit channel. Stdio that is not an
// *os.File is the console (PID 1's own descriptors).
func StartCmd(r *reaper.Reaper, cmd stage2.Cmd) (int, <-chan reaper.Status, error) {
	var in io.Reader = cmd.Stdin
	sys := &syscall.SysProcAttr{Setsid: cmd.Setsid}
	if cmd.Credential {
		groups := cmd.Groups
		if groups == nil {
			groups = []uint32{}
		}
		sys.Credential = &syscall.Credential{Uid: cmd.UID, Gid: cmd.GID, Groups: groups}
	}
	attr := &syscall.ProcAttr{
		Dir:   cmd.Dir,
		Env:   cmd.Env,
		Files: []uintptr{fdOf(in, 0), fdOf(cmd.Stdout, 1), fdOf(cmd.Stderr, 2)},
		Sys:   sys,
	}
	path := cmd.Path
	if path == "" && len(cmd.Args) > 0 {
		path = cmd.Args[0]
	}
	return r.Start(path, cmd.Args, attr)
}
