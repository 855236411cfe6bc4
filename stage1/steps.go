package stage1

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/bootplan/bootplan/internal/console"
)

// Step is one named piece of the boot. It starts when every step in After has finished
// successfully, and gets Timeout (after which its context ends; a step that ignores its
// context is abandoned a little later and counts as failed).
type Step struct {
	Name    string
	After   []string
	Timeout time.Duration
	Run     func(ctx context.Context) error
}

// StepError says which step failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// abandonGrace is how long a step may overrun its timeout before it is abandoned.
var abandonGrace = 3 * time.Second

// RunSteps runs the steps, each as soon as its dependencies are done, independent ones
// concurrently. The first failure stops steps not yet started; RunSteps waits for the running
// ones (each bounded by its timeout) and returns that failure as a *StepError. A step may
// only depend on steps listed before it, so the order is a valid sequence and has no cycle.
func RunSteps(ctx context.Context, steps []Step) error {
	done := map[string]chan struct{}{}
	for _, s := range steps {
		for _, d := range s.After {
			if _, ok := done[d]; !ok {
				return &StepError{Step: s.Name, Err: fmt.Errorf("depends on %q, which is not an earlier step", d)}
			}
		}
		if _, dup := done[s.Name]; dup {
			return &StepError{Step: s.Name, Err: fmt.Errorf("step listed twice")}
		}
		done[s.Name] = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu    sync.Mutex
		first *StepError
		ok    = map[string]bool{}
		wg    sync.WaitGroup
	)
	fail := func(name string, err error) {
		mu.Lock()
		if first == nil {
			first = &StepError{Step: name, Err: err}
			cancel()
		}
		mu.Unlock()
	}
	for _, s := range steps {
		wg.Add(1)
		go func(s Step) {
			defer wg.Done()
			defer close(done[s.Name])
			for _, d := range s.After {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
				mu.Lock()
				good := ok[d]
				mu.Unlock()
				if !good {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err := runOne(ctx, s); err != nil {
				fail(s.Name, err)
				return
			}
			mu.Lock()
			ok[s.Name] = true
			mu.Unlock()
		}(s)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return nil
}

// runOne runs a step with its timeout, turning a panic into an error and a step that
// overruns its timeout into a failure.
func runOne(parent context.Context, s Step) error {
	start := time.Now()
	console.Infof("step %s: started", s.Name)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				console.Debugf("panic in step %s: %v\n%s", s.Name, r, debug.Stack())
				res <- fmt.Errorf("panic: %v", r)
			}
		}()
		res <- s.Run(ctx)
	}()
	var err error
	select {
	case err = <-res:
	case <-time.After(timeout + abandonGrace):
		err = fmt.Errorf("did not finish within %s", timeout)
	}
	d := time.Since(start)
	if err != nil {
		console.Errorf("step %s: failed after %s: %v", s.Name, ms(d), err)
		return err
	}
	console.Infof("step %s: done in %s", s.Name, ms(d))
	return nil
}

// ms renders a duration for the console: "71ms", "1.204s".
func ms(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}
