// Command bootplan is stage two of the boot (reached as /.easyto/sbin/stage2 or `bootplan
// stage2`) and the command-line tool: validate, compile, show, and what other files register.
//
// Subcommands register themselves from their own file's init():
//
//	func init() { register("show", "print a plan", runShow) }
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// version is set at build time with -ldflags '-X main.version=...'.
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string) int
}

var commands = map[string]command{}

// register adds a subcommand; run gets the arguments after the subcommand name and returns
// the exit status.
func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("bootplan: subcommand registered twice: " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

func main() { os.Exit(dispatch(os.Args)) }

// dispatch runs the subcommand named by argv[0]'s base name (e.g. "stage2" for the
// /.easyto/sbin/stage2 link) when one is registered under that name, else argv[1].
func dispatch(argv []string) int {
	if len(argv) > 0 {
		base := filepath.Base(argv[0])
		if c, ok := commands[base]; ok && base != "bootplan" {
			return c.run(argv[1:])
		}
	}
	if len(argv) < 2 {
		usage(os.Stderr)
		return 2
	}
	name := argv[1]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return 0
	case "-version", "--version", "version":
		fmt.Println("bootplan", version)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "bootplan: unknown command %q: run `bootplan help` for the list\n", name)
		return 2
	}
	return c.run(argv[2:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bootplan COMMAND [ARGS]   (bootplan COMMAND -h for a command's flags)")
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
}

// errorf prints a one-line error for a subcommand and returns exit status 1.
func errorf(cmd, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "bootplan %s: %s\n", cmd, strings.TrimSpace(fmt.Sprintf(format, args...)))
	return 1
}
