package stage2

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
	"github.com/bootplan/bootplan/plan"
)

// LookPath resolves name on pathList (":"-separated; empty entries skipped) with stat: the
// first <dir>/<name> that is a non-directory with an execute bit. Only an absolute name
// (leading "/") is not searched: it must exist as such. Any other name is searched, also one
// holding a "/": "bin/app" is looked up as <dir>/bin/app in each PATH directory (easyto's
// behaviour, kept on purpose; execvp would take it relative to the working directory).
func LookPath(stat func(string) (fs.FileInfo, error), name, pathList string) (string, error) {
	if name == "" {
		return "", errors.New("empty command")
	}
	if strings.HasPrefix(name, "/") {
		fi, err := stat(name)
		if err != nil {
			return "", fmt.Errorf("command %s: %s", name, errnoOrErr(err))
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("command %s: Permission denied (not an executable file)", name)
		}
		return name, nil
	}
	for _, dir := range strings.Split(pathList, ":") {
		if dir == "" {
			continue
		}
		p := path.Join(dir, name)
		fi, err := stat(p)
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("command %q not found in PATH=%s", name, pathList)
}

// CheckProgram checks, with stat (following links), that p is a regular file with an execute
// bit: what replace-init verifies while PID 1 is still root, so that a missing program is an
// ordinary boot failure instead of an execve failure after the uid change. The error names p.
func CheckProgram(stat func(string) (fs.FileInfo, error), p string) error {
	if p == "" {
		return errors.New("empty program path")
	}
	fi, err := stat(p)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %s", p, errnoOrErr(err))
	case fi.IsDir():
		return fmt.Errorf("%s: Is a directory", p)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: not a regular file (%s)", p, fi.Mode().Type())
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s: Permission denied (no execute bit, mode %04o)", p, fi.Mode().Perm())
	}
	return nil
}

// errnoOrErr renders a stat error as strerror text ("No such file or directory").
func errnoOrErr(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "No such file or directory"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return errnoText(pe.Err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "No such file or directory"
	}
	return err.Error()
}

func envValue(env []plan.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// PrepareCommand builds the ready command from the plan and the resolved environment: argv
// expanded, argv[0] resolved on the environment's PATH (the program's own argv[0] becomes the
// resolved path), working dir, uid/gid and supplementary groups (none unless the plan lists
// them), own session.
func (rt *Runtime) PrepareCommand() (Cmd, error) {
	c := rt.Plan.Command
	if len(c.Argv) == 0 {
		return Cmd{}, errors.New("empty command")
	}
	argv, err := plan.ExpandArgv(c.Argv, rt.Env)
	if err != nil {
		return Cmd{}, err
	}
	resolved, err := LookPath(rt.Host.Stat, argv[0], envValue(rt.Env, "PATH"))
	if err != nil {
		return Cmd{}, err
	}
	argv[0] = resolved
	// What logs and the journal show: the resolved program and the unexpanded arguments.
	shown := append([]string{resolved}, c.Argv[1:]...)
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	groups := append([]uint32{}, c.Groups...)
	cmd := Cmd{
		Name:       "command",
		Path:       resolved,
		Args:       argv,
		ShownArgs:  shown,
		Env:        EnvStrings(rt.Env),
		Dir:        dir,
		UID:        c.UID,
		GID:        c.GID,
		Groups:     groups,
		Setsid:     true,
		Credential: true,
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
	}
	console.Infof("command: %s (uid %d, gid %d, in %s)", resolved, c.UID, c.GID, dir)
	return cmd, nil
}

// ReplaceInit execs cmd in place of PID 1 (replace-init): the root is remounted read-only
// first when the plan asks and it was not done already. On the real host it returns only on
// failure; the sandbox records it and returns nil.
func ReplaceInit(rt *Runtime, cmd Cmd, remountRO bool) error {
	if remountRO {
		if err := rt.Host.RemountRootReadonly(); err != nil {
			return fmt.Errorf("remount / read-only: %w", err)
		}
	}
	console.Infof("execve: %s", cmd.Path)
	if err := rt.Host.Exec(cmd); err != nil {
		msg := errnoText(err)
		if !strings.Contains(msg, cmd.Path) {
			msg = cmd.Path + ": " + msg
		}
		// The step that failed is the command's: the banner names it like a failed start.
		return &graph.StepError{Step: "command", Err: fmt.Errorf("execve failed: %s", msg)}
	}
	return nil
}
