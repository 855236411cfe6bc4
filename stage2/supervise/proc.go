package supervise

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// pfKthread is PF_KTHREAD in the flags field of /proc/<pid>/stat.
const pfKthread = 0x00200000

// procStat is what the supervisor needs from /proc/<pid>/stat.
type procStat struct {
	Pid   int
	Comm  string
	State byte
	PPid  int
	PGrp  int
	Flags uint64
}

// Kernel reports whether the process is a kernel thread.
func (p procStat) Kernel() bool { return p.Flags&pfKthread != 0 }

// parseStat parses /proc/<pid>/stat. The command name may hold spaces and parentheses, so
// the fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	var p procStat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return p, fmt.Errorf("malformed stat %q", truncate(b))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return p, fmt.Errorf("malformed stat pid %q: %w", truncate(b), err)
	}
	p.Pid, p.Comm = pid, string(b[open+1:closing])
	f := bytes.Fields(b[closing+1:])
	// state ppid pgrp session tty_nr tpgid flags
	if len(f) < 7 || len(f[0]) != 1 {
		return p, fmt.Errorf("malformed stat %q: too few fields", truncate(b))
	}
	p.State = f[0][0]
	if p.PPid, err = strconv.Atoi(string(f[1])); err != nil {
		return p, fmt.Errorf("malformed stat ppid: %w", err)
	}
	if p.PGrp, err = strconv.Atoi(string(f[2])); err != nil {
		return p, fmt.Errorf("malformed stat pgrp: %w", err)
	}
	if p.Flags, err = strconv.ParseUint(string(f[6]), 10, 64); err != nil {
		return p, fmt.Errorf("malformed stat flags: %w", err)
	}
	return p, nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// userProcesses lists the processes under procRoot other than self and kernel threads.
// Processes that vanish while being read are skipped.
func userProcesses(procRoot string, self int) ([]procStat, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		p, err := parseStat(b)
		if err != nil || p.Kernel() || p.Pid == self {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
