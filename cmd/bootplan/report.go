package main

import (
	"fmt"
	"os"

	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
)

func init() {
	register("report", "print a boot report (default /.easyto/run/report.toml) as a table", runReport)
}

// runReport: bootplan report [FILE]. Exit status 1 when the boot failed.
func runReport(args []string) int {
	fs := newFlags("report", "[FILE]")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	file := plan.ReportPath
	if len(pos) > 1 {
		fs.Usage()
		return 2
	}
	if len(pos) == 1 {
		file = pos[0]
	}
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bootplan report: %v\n", err)
		return 1
	}
	r, err := stage2.DecodeReport(b)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bootplan report: %s: %v\n", file, err)
		return 1
	}
	fmt.Print(r.Table())
	if r.Result != "ok" {
		return 1
	}
	return 0
}
