package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/bootplan/bootplan/internal/version"
	"github.com/bootplan/bootplan/plan"
)

func init() {
	register(command{name: "validate", summary: "check a user-data file (strict: unknown keys are errors)",
		args: "[--metadata FILE] [--root DIR] [--format text|json] [--annotate] [USER-DATA|-]   (default " + plan.UserDataPath + ")", define: defineValidate})
	register(command{name: "compile", summary: "compile metadata.json and user data into a boot plan",
		args: "--metadata FILE [--root DIR] [--now RFC3339] [--strict] USER-DATA|- [-o plan.toml]", define: defineCompile})
	register(command{name: "show", summary: "print a boot plan (env values redacted unless --reveal)",
		args: "[--reveal] [--format text|toml|json] [PLAN|-]   (default " + plan.PlanPath + ")", define: defineShow})
}

// readInput reads a file, or stdin for "-". The returned name is used in diagnostics. It reads
// at most one byte more than plan.MaxUserDataBytes: Compile reports the limit, as at boot.
func readInput(arg string) ([]byte, string, error) {
	name, f := plan.DefaultUserDataFile, os.Stdin
	if arg != "-" {
		var err error
		if f, err = os.Open(arg); err != nil {
			return nil, arg, err
		}
		defer f.Close()
		name = arg
	}
	b, err := io.ReadAll(io.LimitReader(f, plan.MaxUserDataBytes+1))
	return b, name, err
}

func defineValidate(fs *flag.FlagSet) func([]string) int {
	metadata := fs.String("metadata", "", "image config (metadata.json) to merge with")
	root := fs.String("root", "", "image root: resolve the image user with DIR/etc/passwd and DIR/etc/group")
	annotate := fs.Bool("annotate", false, "also print the file with each problem marked under its line")
	out := outputFlags(fs, "validate", 0o644, "text", "json")
	return func(pos []string) int {
		file, ok := out.input(pos, plan.UserDataPath) // on a machine: the user data stage one saved
		if !ok {
			return exitUsage
		}
		in := plan.Inputs{Strict: true, Version: version.String(), Now: time.Unix(0, 0), SkipUserLookup: *root == ""}
		var err error
		if in.RawUserData, in.UserDataFile, err = readInput(file); err != nil {
			return fail(exitUsage, "validate", "%v", err)
		}
		if *metadata != "" {
			if in.Metadata, err = os.ReadFile(*metadata); err != nil {
				return fail(exitUsage, "validate", "%v", err)
			}
			in.MetadataFile = *metadata
		}
		if *root != "" {
			if err := readRoot(*root, &in); err != nil {
				return fail(exitUsage, "validate", "%v", err)
			}
		}
		_, diags, err := plan.Compile(in)
		var b bytes.Buffer
		switch *out.format {
		case "json":
			if diags == nil {
				diags = plan.Diagnostics{}
			}
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			enc.Encode(diags)
		default:
			for _, d := range diags {
				fmt.Fprintln(&b, d.String())
			}
			if err != nil && len(plan.AsDiagnostics(err)) == 0 {
				fmt.Fprintln(&b, err)
			}
		}
		if *annotate {
			src := in.RawUserData
			if g, gerr := plan.Gunzip(src); gerr == nil {
				src = g
			}
			fmt.Fprintf(&b, "\n%s", plan.Annotate(in.UserDataFile, src, diags))
		}
		// Text diagnostics go to stderr like a compiler's, unless -o names a file.
		if *out.format == "text" && *out.path == "-" {
			os.Stderr.Write(b.Bytes())
		} else if werr := out.write(b.Bytes()); werr != nil {
			return fail(exitUsage, "validate", "%v", werr)
		}
		if err != nil {
			return exitInvalid
		}
		return exitOK
	}
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

func defineCompile(fs *flag.FlagSet) func([]string) int {
	metadata := fs.String("metadata", "", "image config (metadata.json), required")
	root := fs.String("root", "", "image root: DIR/etc/passwd, DIR/etc/group, DIR/.easyto/services")
	now := fs.String("now", "", "compile time to record (RFC3339; default: now)")
	strict := fs.Bool("strict", false, "unknown keys are errors (as in validate), not warnings")
	outPath := fs.String("o", "-", "output plan file (written 0600, atomically; a device or FIFO such as /dev/null is written to, never replaced); - for stdout")
	return func(pos []string) int {
		if len(pos) != 1 || *metadata == "" {
			if *metadata == "" {
				fmt.Fprintf(os.Stderr, "%s compile: --metadata is required\n", program)
			}
			fs.Usage()
			return exitUsage
		}
		in := plan.Inputs{Strict: *strict, Version: version.String(), Now: time.Now(), MetadataFile: *metadata}
		var err error
		if *now != "" {
			if in.Now, err = time.Parse(time.RFC3339, *now); err != nil {
				return fail(exitUsage, "compile", "--now %q: want RFC3339, e.g. 2025-01-02T15:04:05Z", *now)
			}
		}
		if in.RawUserData, in.UserDataFile, err = readInput(pos[0]); err != nil {
			return fail(exitUsage, "compile", "%v", err)
		}
		if in.Metadata, err = os.ReadFile(*metadata); err != nil {
			return fail(exitUsage, "compile", "%v", err)
		}
		if *root != "" {
			if err := readRoot(*root, &in); err != nil {
				return fail(exitUsage, "compile", "%v", err)
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
			return exitInvalid
		}
		b, err := plan.Encode(p)
		if err != nil {
			return fail(exitInvalid, "compile", "%v", err)
		}
		if err := writeOutput(*outPath, b, 0o600); err != nil {
			return fail(exitUsage, "compile", "%v", err)
		}
		return exitOK
	}
}

// readPlan reads a plan file, or stdin for "-", never more than a plan can be. A file that
// cannot be read is an I/O error (exit 2); one that is not a valid plan is invalid input
// (exit 1).
func readPlan(cmd, path string) (*plan.Plan, int) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, fail(exitUsage, cmd, "%v", err)
		}
		defer f.Close()
	} else {
		path = "<stdin>"
	}
	b, err := io.ReadAll(io.LimitReader(f, plan.MaxPlanBytes+1))
	if err != nil {
		return nil, fail(exitUsage, cmd, "%s: %v", path, err)
	}
	if len(b) > plan.MaxPlanBytes {
		return nil, fail(exitInvalid, cmd, "%s: larger than a boot plan can be (%d bytes): not a plan written by bootplan", path, plan.MaxPlanBytes)
	}
	p, err := plan.Decode(b)
	if err != nil {
		return nil, fail(exitInvalid, cmd, "%s: %v", path, err)
	}
	return p, exitOK
}

func defineShow(fs *flag.FlagSet) func([]string) int {
	reveal := fs.Bool("reveal", false, "show env values (they are redacted by default, in every format)")
	out := outputFlags(fs, "show", 0o600, "text", "toml", "json")
	return func(pos []string) int {
		path, ok := out.input(pos, plan.PlanPath)
		if !ok {
			return exitUsage
		}
		p, code := readPlan("show", path)
		if p == nil {
			return code
		}
		if !*reveal {
			p = p.Redact()
		}
		var b bytes.Buffer
		switch *out.format {
		case "text":
			b.WriteString(p.Summary(*reveal))
		case "toml":
			enc, err := plan.Encode(p)
			if err != nil {
				return fail(exitInvalid, "show", "%v", err)
			}
			b.Write(enc)
		case "json":
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(p); err != nil {
				return fail(exitInvalid, "show", "%v", err)
			}
		}
		if err := out.write(b.Bytes()); err != nil {
			return fail(exitUsage, "show", "%v", err)
		}
		return exitOK
	}
}
