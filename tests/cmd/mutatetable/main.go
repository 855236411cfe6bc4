// Command mutatetable prints the table of make mutate from gremlins' JSON results
// (.cache/mutate/<pkg with / as +>[--<file>].json): one row per package (the per-file runs of a
// package summed), then every mutant that lived, as file:line:column and mutator.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type result struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

type row struct {
	killed, lived, notCovered, timedOut, notViable int
	livedAt                                        []string
}

func main() {
	rows := map[string]*row{}
	var order []string
	for _, path := range os.Args[1:] {
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue // a glob that matched nothing
			}
			fmt.Fprintln(os.Stderr, "mutatetable:", err)
			os.Exit(1)
		}
		var res result
		if err := json.Unmarshal(b, &res); err != nil {
			fmt.Fprintf(os.Stderr, "mutatetable: %s: %v (rerun make mutate for that package)\n", path, err)
			os.Exit(1)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		name, _, _ = strings.Cut(name, "--")
		pkg := strings.ReplaceAll(name, "+", "/")
		r := rows[pkg]
		if r == nil {
			r = &row{}
			rows[pkg] = r
			order = append(order, pkg)
		}
		for _, f := range res.Files {
			for _, m := range f.Mutations {
				switch m.Status {
				case "KILLED":
					r.killed++
				case "LIVED":
					r.lived++
					r.livedAt = append(r.livedAt, fmt.Sprintf("%s/%s:%d:%d %s", pkg, f.FileName, m.Line, m.Column, m.Type))
				case "NOT COVERED":
					r.notCovered++
				case "TIMED OUT":
					r.timedOut++
				case "NOT VIABLE":
					r.notViable++
				}
			}
		}
	}
	fmt.Println("| package | efficacy | killed | lived | not covered | timed out |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, pkg := range order {
		r := rows[pkg]
		eff := "-"
		if n := r.killed + r.lived; n > 0 {
			eff = fmt.Sprintf("%.1f %%", 100*float64(r.killed)/float64(n))
		}
		fmt.Printf("| `%s` | %s | %d | %d | %d | %d |\n", pkg, eff, r.killed, r.lived, r.notCovered, r.timedOut)
	}
	fmt.Println("\nLived (killed by no test; each is either a missing test or listed in docs/mutation.md as equivalent):")
	for _, pkg := range order {
		sort.Strings(rows[pkg].livedAt)
		for _, l := range rows[pkg].livedAt {
			fmt.Println("  " + l)
		}
	}
}
