package main

import (
	"flag"

	"github.com/bootplan/bootplan/plan"
)

func init() {
	register(command{name: "schema", summary: "print the JSON Schema (draft 2020-12) of the user-data format, for editors and CI",
		args: "[-o FILE]", define: defineSchema})
}

func defineSchema(fs *flag.FlagSet) func([]string) int {
	out := fs.String("o", "-", "write the schema to this file instead of stdout")
	return func(pos []string) int {
		if len(pos) != 0 {
			fs.Usage()
			return exitUsage
		}
		if err := writeOutput(*out, plan.JSONSchema(), 0o644); err != nil {
			return fail(exitUsage, "schema", "%v", err)
		}
		return exitOK
	}
}
