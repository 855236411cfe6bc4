package stage1

import (
	"context"
	"fmt"
	"time"

	"github.com/bootplan/bootplan/internal/graph"
)

// Step is one named piece of the boot (internal/graph runs them). It starts when every step
// in After has finished successfully, and gets Timeout (a minute when unset), after which its
// context ends; a step that ignores its context is abandoned a little later and counts as
// failed.
type Step = graph.Step

// StepError says which step failed.
type StepError = graph.StepError

// defaultStepTimeout bounds a step that sets no Timeout.
const defaultStepTimeout = time.Minute

// RunSteps runs the steps, each as soon as its dependencies are done, independent ones
// concurrently, with the console step lines. The first failure stops steps not yet started
// and ends the running ones' context; RunSteps waits for them (each bounded by its timeout)
// and returns that failure as a *StepError. A step may only depend on steps listed before
// it, so the list reads as the boot's sequence.
func RunSteps(ctx context.Context, steps []Step) error {
	_, err := runSteps(ctx, steps)
	return err
}

// runSteps is RunSteps, also returning the steps' results (for the boot report).
func runSteps(ctx context.Context, steps []Step) ([]graph.Result, error) {
	earlier := make(map[string]bool, len(steps))
	for _, s := range steps {
		for _, d := range s.After {
			if !earlier[d] {
				return nil, &StepError{Step: s.Name, Err: fmt.Errorf("depends on %q, which is not an earlier step", d)}
			}
		}
		earlier[s.Name] = true
	}
	return graph.Run(ctx, steps, graph.Options{DefaultTimeout: defaultStepTimeout, CancelOnFailure: true}.WithConsole())
}
