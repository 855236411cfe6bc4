//go:build !validateonly

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"sort"

	"github.com/bootplan/bootplan/internal/timeline"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
)

func init() {
	register(command{name: "report", summary: "print a boot report (default " + plan.ReportPath + "): table, JSON or an SVG timeline",
		args: "[--format text|json|svg] [--sort start|time] [-o FILE] [REPORT]", define: defineReport})
}

// defineReport: exit 0 when the boot it reports went well, 1 when it failed, 2 when the
// report cannot be read.
func defineReport(fs *flag.FlagSet) func([]string) int {
	out := outputFlags(fs, "report", 0o644, "text", "json", "svg")
	order := fs.String("sort", "start", "step order: start (as they ran) or time (longest first, to see what to speed up)")
	return func(pos []string) int {
		file, ok := out.input(pos, plan.ReportPath)
		if !ok {
			return exitUsage
		}
		if *order != "start" && *order != "time" {
			return fail(exitUsage, "report", "--sort %q: want start or time", *order)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fail(exitUsage, "report", "%v", err)
		}
		r, err := stage2.DecodeReport(b)
		if err != nil {
			return fail(exitUsage, "report", "%s: %v", file, err)
		}
		if *order == "time" {
			sort.SliceStable(r.Steps, func(i, j int) bool { return r.Steps[i].DurationMS > r.Steps[j].DurationMS })
		}
		var buf bytes.Buffer
		switch *out.format {
		case "text":
			buf.WriteString(r.Table())
		case "json":
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			enc.Encode(r)
		case "svg":
			buf.WriteString(timeline.SVG("boot report: "+r.Result, Bars(r)))
		}
		if err := out.write(buf.Bytes()); err != nil {
			return fail(exitUsage, "report", "%v", err)
		}
		if r.Result != "ok" {
			return exitInvalid
		}
		return exitOK
	}
}

// Bars turns a report's steps into timeline bars.
func Bars(r stage2.Report) []timeline.Bar {
	bars := make([]timeline.Bar, 0, len(r.Steps))
	for _, s := range r.Steps {
		bars = append(bars, timeline.Bar{Name: s.Name, Status: s.Status, StartMS: s.StartMS, DurMS: s.DurationMS, After: s.After, Error: s.Error})
	}
	return bars
}
