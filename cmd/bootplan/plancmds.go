package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bootplan/bootplan/internal/fsutil"
	"github.com/bootplan/bootplan/plan"
)

func init() {
	register("validate", "check a user-data file (strict: unknown keys are errors)", runValidate)
	register("compile", "compile metadata.json and user data into a boot plan", runCompile)
	register("show", "print a boot plan (env values redacted unless -reveal)", runShow)
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

func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("bootplan "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: bootplan %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// readInput reads a file, or stdin for "-". The returned name is used in diagnostics.
func readInput(arg string) ([]byte, string, error) {
	if arg == "-" {
		b, err := io.ReadAll(os.Stdin)
		return b, plan.DefaultUserDataFile, err
	}
	b, err := os.ReadFile(arg)
	return b, arg, err
}

func runValidate(args []string) int {
	fs := newFlags("validate", "[-metadata FILE] [-root DIR] [-o text|json] USER-DATA|-")
	metadata := fs.String("metadata", "", "image config (metadata.json) to merge with")
	root := fs.String("root", "", "image root: resolve the image user with DIR/etc/passwd and DIR/etc/group")
	out := fs.String("o", "text", "output: text (gcc-style lines on stderr) or json (stdout)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	if *out != "text" && *out != "json" {
		return errorf("validate", "-o %q: want text or json", *out)
	}
	in := plan.Inputs{Strict: true, Version: version, Now: time.Unix(0, 0), SkipUserLookup: *root == ""}
	if in.RawUserData, in.UserDataFile, err = readInput(pos[0]); err != nil {
		return errorf("validate", "%v", err)
	}
	if *metadata != "" {
		if in.Metadata, err = os.ReadFile(*metadata); err != nil {
			return errorf("validate", "%v", err)
		}
		in.MetadataFile = *metadata
	}
	if *root != "" {
		if err := readRoot(*root, &in); err != nil {
			return errorf("validate", "%v", err)
		}
	}
	_, diags, err := plan.Compile(in)
	if *out == "json" {
		if diags == nil {
			diags = plan.Diagnostics{}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(diags)
	} else {
		for _, d := range diags {
			fmt.Fprintln(os.Stderr, d.String())
		}
	}
	if err != nil {
		if len(plan.AsDiagnostics(err)) == 0 && *out == "text" {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
	return 0
}

// readRoot fills passwd, group and services from an image root directory. Missing files
// are empty; a missing services directory means no services.
func readRoot(root string, in *plan.Inputs) error {
	var err error
	if in.Passwd, err = readOptional(filepath.Join(root, "etc/passwd")); err != nil {
		return err
	}
	if in.Group, err = readOptional(filepath.Join(root, "etc/group")); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(root, plan.ServicesDir))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	in.Services = append([]string{}, plan.ServiceNames(entries)...)
	sort.Strings(in.Services)
	return nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return b, err
}

func runCompile(args []string) int {
	fs := newFlags("compile", "-metadata FILE [-root DIR] [-now RFC3339] [-strict] USER-DATA|- [-o plan.toml]")
	metadata := fs.String("metadata", "", "image config (metadata.json), required")
	root := fs.String("root", "", "image root: DIR/etc/passwd, DIR/etc/group, DIR/.easyto/services")
	now := fs.String("now", "", "compile time to record (RFC3339; default: now)")
	strict := fs.Bool("strict", false, "unknown keys are errors (as in validate), not warnings")
	out := fs.String("o", "-", "output plan file (written 0600, atomically); - for stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *metadata == "" {
		if *metadata == "" {
			fmt.Fprintln(os.Stderr, "bootplan compile: -metadata is required")
		}
		fs.Usage()
		return 2
	}
	in := plan.Inputs{Strict: *strict, Version: version, Now: time.Now(), MetadataFile: *metadata}
	if *now != "" {
		if in.Now, err = time.Parse(time.RFC3339, *now); err != nil {
			return errorf("compile", "-now %q: want RFC3339, e.g. 2025-01-02T15:04:05Z", *now)
		}
	}
	if in.RawUserData, in.UserDataFile, err = readInput(pos[0]); err != nil {
		return errorf("compile", "%v", err)
	}
	if in.Metadata, err = os.ReadFile(*metadata); err != nil {
		return errorf("compile", "%v", err)
	}
	if *root != "" {
		if err := readRoot(*root, &in); err != nil {
			return errorf("compile", "%v", err)
		}
	}
	p, diags, err := plan.Compile(in)
	for _, d := range diags {
		fmt.Fprintln(os.Stderr, d.String())
	}
	if err != nil {
		if len(plan.AsDiagnostics(err)) == 0 {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
	b, err := plan.Encode(p)
	if err != nil {
		return errorf("compile", "%v", err)
	}
	if *out == "-" {
		os.Stdout.Write(b)
		return 0
	}
	if err := fsutil.WriteAtomic(*out, b, 0o600, -1, -1); err != nil {
		return errorf("compile", "%v", err)
	}
	return 0
}

func runShow(args []string) int {
	fs := newFlags("show", "[-reveal] [-o text|toml|json] [PLAN]   (default "+plan.PlanPath+")")
	reveal := fs.Bool("reveal", false, "show env values (they are redacted by default, in every format)")
	out := fs.String("o", "text", "output: text (summary), toml or json (the raw plan)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 1 {
		fs.Usage()
		return 2
	}
	path := plan.PlanPath
	if len(pos) == 1 {
		path = pos[0]
	}
	p, err := plan.ReadFile(path)
	if err != nil {
		return errorf("show", "%v", err)
	}
	if !*reveal {
		p = p.Redact()
	}
	switch *out {
	case "text":
		fmt.Print(p.Summary(*reveal))
	case "toml":
		b, err := plan.Encode(p)
		if err != nil {
			return errorf("show", "%v", err)
		}
		os.Stdout.Write(b)
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			return errorf("show", "%v", err)
		}
	default:
		return errorf("show", "-o %q: want text, toml or json", *out)
	}
	return 0
}
