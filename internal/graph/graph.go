// Package graph runs a boot stage's steps as a dependency graph: a step starts once every
// step it comes After has finished ok (or skipped), independent steps run in parallel, the
// first failure stops new steps while the running ones finish, and each step may have a
// deadline after which it is abandoned. When the run's context ends (a shutdown request) the
// running steps may be given a bounded grace and then abandoned too (Options.Abandon). A panic in a step is a failure of that step. Both
// stages use it; the graph logic itself is pure (the console lines are in console.go).
package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// Step is one named piece of a boot stage with the names of the steps it must follow.
// Timeout, when positive (or when Options.DefaultTimeout fills it in), ends the step's
// context; a step that ignores its context is abandoned a little later and counts as failed.
type Step struct {
	Name    string
	After   []string
	Timeout time.Duration
	Run     func(ctx context.Context) error
}

// Step statuses, as in the boot report.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusNotRun  = "not-run"
	// StatusAbandoned: the step was still running when the grace after the run's context
	// ended (Options.Abandon) expired; its goroutine was left behind.
	StatusAbandoned = "abandoned"
)

// ErrSkip, returned (possibly wrapped) by a step, marks it "skipped" rather than "ok": it had
// nothing to do or an optional source was missing. It is not a failure.
var ErrSkip = errors.New("skipped")

// SkipReason is a skip error's text without the "skipped: " prefix.
func SkipReason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrSkip.Error()+": ")
}

// Result is how one step went.
type Result struct {
	Name     string
	Status   string
	Start    time.Duration // offset from the start of the graph
	Duration time.Duration
	Err      error
	After    []string // the step's dependencies, for the report's timeline
}

// StepError is the first failure of a run: which step, and its error. It reads
// "step <name>: <err>".
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string    { return "step " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error    { return e.Err }
func (e *StepError) StepName() string { return e.Step }

// PanicError is a step's panic turned into its failure.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Options observe a run (logging) and tune it; all optional. The hooks are called from the
// runner's goroutine, one at a time.
type Options struct {
	Started func(name string)
	Done    func(r Result)
	Now     func() time.Time

	// DefaultTimeout is the Timeout of steps that have none (0: no deadline).
	DefaultTimeout time.Duration
	// CancelOnFailure ends the context of the steps still running at the first failure
	// (they are still waited for).
	CancelOnFailure bool

	// Abandon bounds the wait for running steps once ctx ends (a shutdown request): the steps
	// still running AbandonGrace later are "abandoned" (their goroutines left behind, blocked
	// wherever they are) and Run returns. Without it Run waits for every running step, so one
	// step stuck in a syscall would hold up the shutdown for ever.
	Abandon      bool
	AbandonGrace time.Duration
	// After starts the abandon timer (tests inject one); nil: time.After.
	After func(time.Duration) <-chan time.Time
}

// abandonGrace is how long a step may overrun its timeout before it is abandoned.
var abandonGrace = 3 * time.Second

// Check reports steps without a name, duplicate names, unknown dependencies and cycles. It
// returns the step names in one valid order (declaration order among independent steps).
func Check(steps []Step) ([]string, error) {
	index := make(map[string]int, len(steps))
	for i, s := range steps {
		if s.Name == "" {
			return nil, fmt.Errorf("step %d has no name", i)
		}
		if _, dup := index[s.Name]; dup {
			return nil, fmt.Errorf("duplicate step %q", s.Name)
		}
		index[s.Name] = i
	}
	for i, s := range steps {
		for _, d := range s.After {
			j, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("step %q depends on unknown step %q", s.Name, d)
			}
			if j == i {
				return nil, fmt.Errorf("dependency cycle: %s -> %s", s.Name, s.Name)
			}
		}
	}
	indeg, next := edges(steps, index)
	var order []string
	var ready []int
	for i := range steps {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		order = append(order, steps[i].Name)
		for _, k := range next[i] {
			indeg[k]--
			if indeg[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	if len(order) != len(steps) {
		var stuck []string
		for i, s := range steps {
			if indeg[i] > 0 {
				stuck = append(stuck, s.Name)
			}
		}
		return nil, fmt.Errorf("dependency cycle among steps: %s", strings.Join(stuck, ", "))
	}
	return order, nil
}

// edges returns each step's number of dependencies and, for each step, the steps that
// depend on it. Every dependency must be known (Check).
func edges(steps []Step, index map[string]int) (indeg []int, next [][]int) {
	indeg = make([]int, len(steps))
	next = make([][]int, len(steps))
	for i, s := range steps {
		for _, d := range s.After {
			indeg[i]++
			next[index[d]] = append(next[index[d]], i)
		}
	}
	return indeg, next
}

// Run runs steps as a dependency graph: a step starts once every step it follows has
// finished ok or skipped; independent steps run in parallel. After the first failure (or when
// ctx ends) no new step starts, running steps finish (or, with Options.Abandon, are abandoned
// once ctx has ended for AbandonGrace), and the rest are "not-run". Results are
// in declaration order; the error is the first failure's, a *StepError, or ctx's error. A
// graph that fails Check runs nothing.
func Run(ctx context.Context, steps []Step, o Options) ([]Result, error) {
	if _, err := Check(steps); err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := now()
	index := make(map[string]int, len(steps))
	for i, s := range steps {
		index[s.Name] = i
	}
	indeg, next := edges(steps, index)
	results := make([]Result, len(steps))
	for i, s := range steps {
		results[i] = Result{Name: s.Name, Status: StatusNotRun, After: s.After}
	}
	type doneMsg struct {
		i   int
		err error
		end time.Time
	}
	// Buffered: an abandoned step's goroutine can still deliver its result and end.
	done := make(chan doneMsg, len(steps))
	isRunning := make([]bool, len(steps))
	after := o.After
	if after == nil {
		after = time.After
	}
	ctxDone := ctx.Done()
	var abandon <-chan time.Time
	started := make([]time.Time, len(steps))
	var ready []int
	for i := range steps {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	running := 0
	var firstErr error
	stopped := false
	for {
		if !stopped && ctx.Err() != nil {
			stopped = true
			if firstErr == nil {
				firstErr = ctx.Err()
			}
		}
		if !stopped {
			sort.Ints(ready)
			for _, i := range ready {
				s := steps[i]
				if s.Timeout <= 0 {
					s.Timeout = o.DefaultTimeout
				}
				started[i] = now()
				results[i].Start = started[i].Sub(t0)
				if o.Started != nil {
					o.Started(s.Name)
				}
				running++
				isRunning[i] = true
				go func(i int, s Step) {
					err := runOne(stepCtx, s)
					done <- doneMsg{i: i, err: err, end: now()}
				}(i, s)
			}
			ready = ready[:0]
		}
		if running == 0 {
			break
		}
		var m doneMsg
		select {
		case m = <-done:
		case <-ctxDone:
			ctxDone = nil
			if o.Abandon {
				abandon = after(o.AbandonGrace)
			}
			continue // stop starting steps (the loop's first check)
		case <-abandon:
			end := now()
			for i := range steps {
				if !isRunning[i] {
					continue
				}
				r := &results[i]
				r.Status = StatusAbandoned
				r.Duration = end.Sub(started[i])
				r.Err = fmt.Errorf("still running %s after the shutdown request; abandoned", o.AbandonGrace)
				if o.Done != nil {
					o.Done(*r)
				}
			}
			return results, firstErr
		}
		running--
		isRunning[m.i] = false
		r := &results[m.i]
		r.Duration = m.end.Sub(started[m.i])
		switch {
		case m.err == nil:
			r.Status = StatusOK
		case errors.Is(m.err, ErrSkip):
			r.Status = StatusSkipped
			if m.err != ErrSkip { // keep the reason
				r.Err = m.err
			}
		default:
			r.Status = StatusFailed
			r.Err = m.err
			if firstErr == nil {
				firstErr = &StepError{Step: r.Name, Err: m.err}
				if o.CancelOnFailure {
					cancel()
				}
			}
			stopped = true
		}
		if o.Done != nil {
			o.Done(*r)
		}
		if r.Status != StatusFailed {
			for _, k := range next[m.i] {
				indeg[k]--
				if indeg[k] == 0 {
					ready = append(ready, k)
				}
			}
		}
	}
	return results, firstErr
}

// runOne runs a step within its timeout, turning a panic into a *PanicError and a step that
// overruns its timeout by abandonGrace into a failure (its goroutine is abandoned).
func runOne(ctx context.Context, s Step) error {
	if s.Run == nil {
		return nil
	}
	if s.Timeout <= 0 {
		return call(ctx, s.Run)
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- call(ctx, s.Run) }()
	abandon := time.NewTimer(s.Timeout + abandonGrace)
	defer abandon.Stop()
	select {
	case err := <-res:
		return err
	case <-abandon.C:
		return fmt.Errorf("did not finish within %s", s.Timeout)
	}
}

func call(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return run(ctx)
}
