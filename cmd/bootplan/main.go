// Command bootplan is stage two of the boot (reached as /.easyto/sbin/stage2 or `bootplan
// stage2`) and the command-line tool: validate, compile, show, schema, report, replay,
// completion. Built with -tags validateonly it is bin/bootplan-validate: the commands that
// need no AWS SDK and no stage two, small enough to download into CI or onto a laptop.
//
// Subcommands register themselves from their own file's init(), with the flags they take, so
// help, completion and dispatch are the same for all of them:
//
//	func init() { register(command{name: "show", summary: "...", args: "[PLAN]", define: defineShow}) }
//
// Exit status, for every command: 0 ok; 1 the input is invalid or the boot failed; 2 usage
// or I/O error (a missing file, an unwritable output).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootplan/bootplan/internal/version"
)

const (
	exitOK      = 0
	exitInvalid = 1 // the input is invalid, or the boot it reports failed
	exitUsage   = 2 // bad flags or arguments, or an I/O error
)

// program is the name in usage lines: bootplan, or bootplan-validate.
var program = "bootplan"

type command struct {
	name    string
	summary string
	args    string // positional arguments, for the usage line
	// define declares the command's flags on fs and returns what runs with the positional
	// arguments once they are parsed.
	define func(fs *flag.FlagSet) func(pos []string) int
	// raw commands parse their own arguments (stage2 runs as PID 1 with the kernel's argv).
	raw func(args []string) int
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("bootplan: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() { os.Exit(dispatch(os.Args)) }

// dispatch runs the subcommand named by argv[0]'s base name (e.g. "stage2" for the
// /.easyto/sbin/stage2 link) when one is registered under that name, else argv[1].
func dispatch(argv []string) int {
	if len(argv) > 0 {
		base := filepath.Base(argv[0])
		if c, ok := commands[base]; ok && c.raw != nil {
			return c.raw(argv[1:])
		}
	}
	if len(argv) < 2 {
		usage(os.Stderr)
		return exitUsage
	}
	name, rest := argv[1], argv[2:]
	switch name {
	case "-h", "-help", "--help":
		usage(os.Stdout)
		return exitOK
	case "help":
		if len(rest) == 0 {
			usage(os.Stdout)
			return exitOK
		}
		c, ok := commands[rest[0]]
		if !ok {
			return unknown(rest[0])
		}
		if c.raw != nil {
			fmt.Printf("usage: %s %s %s\n  %s\n", program, c.name, c.args, c.summary)
			return exitOK
		}
		return run(c, []string{"-h"})
	case "-version", "--version", "version":
		fmt.Println(program, version.String())
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		return unknown(name)
	}
	if c.raw != nil {
		return c.raw(rest)
	}
	return run(c, rest)
}

func unknown(name string) int {
	fmt.Fprintf(os.Stderr, "%s: unknown command %q: run `%s help` for the list\n", program, name, program)
	return exitUsage
}

// run parses a command's flags (before and after its positional arguments) and runs it.
// -h/--help prints the command's usage on stdout and exits 0.
func run(c command, args []string) int {
	fs := newFlagSet(c)
	action := c.define(fs)
	if wantsHelp(args) {
		fs.SetOutput(os.Stdout)
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	return action(pos)
}

func newFlagSet(c command) *flag.FlagSet {
	fs := flag.NewFlagSet(program+" "+c.name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s %s\n  %s\n", program, c.name, c.args, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseInterspersed parses flags that may appear before and after positional arguments
// ("USER-DATA -o plan.toml"); "-" alone is a positional argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [ARGS]   (%s help COMMAND, or COMMAND -h, for a command's flags)\n", program, program)
	fmt.Fprintln(w, "commands:")
	names := commandNames()
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w, "exit status: 0 ok; 1 invalid input or failed boot; 2 usage or I/O error")
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// fail prints a one-line error for a subcommand and returns the given exit status.
func fail(code int, cmd, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", program, cmd, strings.TrimSpace(fmt.Sprintf(format, args...)))
	return code
}
