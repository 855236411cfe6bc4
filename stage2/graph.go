package stage2

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Step is one named unit of stage two with the names of the steps it must follow.
type Step struct {
	Name  string
	After []string
	Run   func(ctx context.Context) error
}

// Step statuses, as in the boot report.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusNotRun  = "not-run"
)

// ErrSkip, returned (possibly wrapped) by a step, marks it "skipped" rather than "ok": it had
// nothing to do or an optional source was missing. It is not a failure.
var ErrSkip = errors.New("skipped")

// StepResult is how one step went.
type StepResult struct {
	Name     string
	Status   string
	Start    time.Duration // offset from the start of the graph
	Duration time.Duration
	Err      error
}

// GraphHooks observe a run (logging); all optional. They are called from the runner's
// goroutine, one at a time.
type GraphHooks struct {
	Started func(name string)
	Done    func(r StepResult)
	Now     func() time.Time
}

// CheckGraph reports duplicate names, unknown dependencies and cycles. It returns the step
// names in one valid order (declaration order among independent steps).
func CheckGraph(steps []Step) ([]string, error) {
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
	indeg := make([]int, len(steps))
	next := make([][]int, len(steps))
	for i, s := range steps {
		for _, d := range s.After {
			j, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("step %q depends on unknown step %q", s.Name, d)
			}
			if j == i {
				return nil, fmt.Errorf("dependency cycle: %s -> %s", s.Name, s.Name)
			}
			indeg[i]++
			next[j] = append(next[j], i)
		}
	}
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

// RunGraph runs steps as a dependency graph: a step starts once every step it follows has
// finished ok or skipped; independent steps run in parallel. After the first failure (or when
// ctx ends) no new step starts, running steps finish, and the rest are "not-run". Results are
// in declaration order; the error is the first failure's, "step <name>: <err>".
func RunGraph(ctx context.Context, steps []Step, hooks GraphHooks) ([]StepResult, error) {
	if _, err := CheckGraph(steps); err != nil {
		return nil, err
	}
	now := hooks.Now
	if now == nil {
		now = time.Now
	}
	t0 := now()
	index := make(map[string]int, len(steps))
	for i, s := range steps {
		index[s.Name] = i
	}
	indeg := make([]int, len(steps))
	next := make([][]int, len(steps))
	for i, s := range steps {
		for _, d := range s.After {
			indeg[i]++
			next[index[d]] = append(next[index[d]], i)
		}
	}
	results := make([]StepResult, len(steps))
	for i, s := range steps {
		results[i] = StepResult{Name: s.Name, Status: StatusNotRun}
	}
	type doneMsg struct {
		i   int
		err error
		end time.Time
	}
	done := make(chan doneMsg)
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
				started[i] = now()
				results[i].Start = started[i].Sub(t0)
				if hooks.Started != nil {
					hooks.Started(s.Name)
				}
				running++
				go func(i int, run func(context.Context) error) {
					var err error
					func() {
						defer func() {
							if r := recover(); r != nil {
								err = fmt.Errorf("panic: %v", r)
							}
						}()
						if run != nil {
							err = run(ctx)
						}
					}()
					done <- doneMsg{i: i, err: err, end: now()}
				}(i, s.Run)
			}
			ready = ready[:0]
		}
		if running == 0 {
			break
		}
		m := <-done
		running--
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
				firstErr = fmt.Errorf("step %s: %w", r.Name, m.err)
			}
			stopped = true
		}
		if hooks.Done != nil {
			hooks.Done(*r)
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
