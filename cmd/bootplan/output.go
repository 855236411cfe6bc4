package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/bootplan/bootplan/internal/fsutil"
)

// output is the --format and -o FILE pair every command that prints something takes: the
// format says what is printed, -o where (default stdout).
type output struct {
	cmd     string
	formats []string
	format  *string
	path    *string
	fs      *flag.FlagSet
	perm    fs.FileMode
}

func outputFlags(fset *flag.FlagSet, cmd string, perm fs.FileMode, formats ...string) *output {
	o := &output{cmd: cmd, formats: formats, fs: fset, perm: perm}
	o.format = fset.String("format", formats[0], "output format: "+strings.Join(formats, ", "))
	o.path = fset.String("o", "-", "write the output to this file instead of stdout")
	return o
}

// resolve checks the format after parsing. Until the next release -o also accepts a format
// name, as it did before -o meant a file, with a deprecation line.
func (o *output) resolve() bool {
	formatSet := false
	o.fs.Visit(func(f *flag.Flag) { formatSet = formatSet || f.Name == "format" })
	if !formatSet && slices.Contains(o.formats, *o.path) {
		fmt.Fprintf(os.Stderr, "%s %s: -o %s is deprecated: use --format %s (-o names an output file)\n", program, o.cmd, *o.path, *o.path)
		*o.format, *o.path = *o.path, "-"
	}
	if !slices.Contains(o.formats, *o.format) {
		fmt.Fprintf(os.Stderr, "%s %s: --format %q: want %s\n", program, o.cmd, *o.format, strings.Join(o.formats, ", "))
		return false
	}
	return true
}

// input checks the positional arguments of a command that reads at most one file (def when
// none is given) and resolves the output flags; ok is false on a usage error (already shown).
func (o *output) input(pos []string, def string) (file string, ok bool) {
	if len(pos) > 1 {
		o.fs.Usage()
		return "", false
	}
	if !o.resolve() {
		return "", false
	}
	if len(pos) == 1 {
		return pos[0], true
	}
	return def, true
}

// write puts b where -o says: stdout, or the file, replaced atomically.
func (o *output) write(b []byte) error {
	return writeOutput(*o.path, b, o.perm)
}

// writeOutput writes a command's result to stdout ("-") or a file.
func writeOutput(path string, b []byte, perm fs.FileMode) error {
	if path == "-" || path == "" {
		_, err := os.Stdout.Write(b)
		return err
	}
	return fsutil.WriteOutput(path, b, perm)
}
