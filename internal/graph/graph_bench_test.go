package graph

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkRun measures the executor's own overhead on a plan-sized graph of no-op steps
// (a fan-out of 20 sources, a join, 10 volumes, scripts, command).
func BenchmarkRun(b *testing.B) {
	nop := func(context.Context) error { return nil }
	var steps []Step
	var sources []string
	for i := range 20 {
		n := fmt.Sprintf("env-from-%d", i)
		sources = append(sources, n)
		steps = append(steps, Step{Name: n, Run: nop})
	}
	steps = append(steps, Step{Name: "env", After: sources, Run: nop})
	var vols []string
	for i := range 10 {
		n := fmt.Sprintf("volume-%d", i)
		vols = append(vols, n)
		steps = append(steps, Step{Name: n, After: []string{"env"}, Run: nop})
	}
	steps = append(steps, Step{Name: "init-scripts", After: vols, Run: nop})
	steps = append(steps, Step{Name: "command", After: []string{"init-scripts"}, Run: nop})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), steps, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
