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
	return lookPathShown(stat, name, pathList, name, "PATH="+pathList)
}

// lookPathShown is LookPath whose errors show shownName and shownPath instead of name and
// pathList: those may be expanded from secrets, errors must only hold the plan's text.
func lookPathShown(stat func(string) (fs.FileInfo, error), name, pathList, shownName, shownPath string) (string, error) {
	if name == "" {
		return "", errors.New("empty command")
	}
	if strings.HasPrefix(name, "/") {
		fi, err := stat(name)
		if err != nil {
			return "", fmt.Errorf("command %s: %s", shownName, errnoOrErr(err))
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("command %s: Permission denied (not an executable file)", shownName)
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
	return "", fmt.Errorf("command %q not found in %s", shownName, shownPath)
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
	// Errors and logs are built from the plan's text only: argv[0] as written, and PATH as
	// the plan states it (an expanded or fetched PATH may hold a secret value).
	expanded0 := argv[0]
	resolved, err := lookPathShown(rt.Host.Stat, argv[0], envValue(rt.Env, "PATH"), c.Argv[0], rt.shownEnv("PATH"))
	if err != nil {
		return Cmd{}, err
	}
	argv[0] = resolved
	// What logs and the journal show: the resolved program and the unexpanded arguments. A
	// program whose name came out of an expansion is shown as written.
	prog := resolved
	if expanded0 != c.Argv[0] {
		prog = c.Argv[0]
	}
	shown := append([]string{prog}, c.Argv[1:]...)
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	// Checked here, as root and before the start, so that a missing directory is named
	// instead of surfacing as execve's "No such file or directory".
	if fi, err := rt.Host.Stat(dir); err != nil {
		return Cmd{}, fmt.Errorf("working dir %s: %s (create it in the image, a volume or an init script)", dir, errnoOrErr(err))
	} else if !fi.IsDir() {
		return Cmd{}, fmt.Errorf("working dir %s: Not a directory", dir)
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
	console.Infof("command: %s (uid %d, gid %d, in %s)", prog, c.UID, c.GID, dir)
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
	shown := cmd.Shown()
	console.Infof("execve: %s", shown)
	if err := rt.Host.Exec(cmd); err != nil {
		msg := errnoText(err)
		if shown != cmd.Path && cmd.Path != "" {
			// The host names the program by its path, which came out of an expansion.
			msg = strings.ReplaceAll(msg, cmd.Path, shown)
		}
		if !strings.Contains(msg, shown) {
			msg = shown + ": " + msg
		}
		// The step that failed is the command's: the banner names it like a failed start.
		return &graph.StepError{Step: "command", Err: fmt.Errorf("execve failed: %s", msg)}
	}
	return nil
}

// shownEnv is how errors show the variable name: NAME=VALUE when the value is the plan's own
// static text (no $(VAR) expanded into it, not fetched by env-from), else only the name and
// where it came from: a value built from env-from may be a secret.
func (rt *Runtime) shownEnv(name string) string {
	val, ok := "", false
	for _, e := range rt.Env {
		if e.Name == name {
			val, ok = e.Value, true
		}
	}
	if !ok {
		return name + " (unset)"
	}
	raw, static := "", false
	for _, e := range rt.Plan.Env {
		if e.Name == name {
			raw, static = e.Value, true
		}
	}
	if static && raw == val {
		return name + "=" + val
	}
	if static {
		return name + "=" + raw + " (expanded)"
	}
	return name + " (from env-from)"
}
