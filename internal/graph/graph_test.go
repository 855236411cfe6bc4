package graph

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		steps []Step
		order string
		err   string
	}{
		{"chain", []Step{{Name: "c", After: []string{"b"}}, {Name: "b", After: []string{"a"}}, {Name: "a"}}, "a b c", ""},
		{"independent keep declaration order", []Step{{Name: "x"}, {Name: "y"}, {Name: "z", After: []string{"x", "y"}}}, "x y z", ""},
		{"cycle", []Step{{Name: "a", After: []string{"b"}}, {Name: "b", After: []string{"a"}}, {Name: "c"}}, "", "dependency cycle among steps: a, b"},
		{"self", []Step{{Name: "a", After: []string{"a"}}}, "", "dependency cycle: a -> a"},
		{"unknown", []Step{{Name: "a", After: []string{"zz"}}}, "", `step "a" depends on unknown step "zz"`},
		{"duplicate", []Step{{Name: "a"}, {Name: "a"}}, "", `duplicate step "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, err := Check(tt.steps)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(order, " "); got != tt.order {
				t.Fatalf("order = %q, want %q", got, tt.order)
			}
		})
	}
}

func TestRunOrderAndParallel(t *testing.T) {
	var mu sync.Mutex
	var events []string
	log := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	// a and b must run at the same time: each waits for the other to have started.
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	wait := func(c chan struct{}) error {
		select {
		case <-c:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("not parallel")
		}
	}
	steps := []Step{
		{Name: "a", Run: func(context.Context) error { close(aStarted); log("a"); return wait(bStarted) }},
		{Name: "b", Run: func(context.Context) error { close(bStarted); log("b"); return wait(aStarted) }},
		{Name: "c", After: []string{"a", "b"}, Run: func(context.Context) error { log("c"); return ErrSkip }},
		{Name: "d", After: []string{"c"}, Run: func(context.Context) error { log("d"); return nil }},
	}
	res, err := Run(context.Background(), steps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events[2:], " "); got != "c d" {
		t.Fatalf("events = %v", events)
	}
	want := []string{StatusOK, StatusOK, StatusSkipped, StatusOK}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("%s: status %s, want %s", r.Name, r.Status, want[i])
		}
	}
}

func TestRunFirstFailure(t *testing.T) {
	release := make(chan struct{})
	var slowFinished atomic.Bool
	var lateRan atomic.Bool
	steps := []Step{
		{Name: "slow", Run: func(context.Context) error {
			<-release
			slowFinished.Store(true)
			return nil
		}},
		{Name: "bad", Run: func(context.Context) error { return errors.New("boom") }},
		{Name: "after-bad", After: []string{"bad"}, Run: func(context.Context) error { lateRan.Store(true); return nil }},
		{Name: "after-slow", After: []string{"slow"}, Run: func(context.Context) error { lateRan.Store(true); return nil }},
	}
	var done []string
	res, err := Run(context.Background(), steps, Options{Done: func(r Result) {
		done = append(done, r.Name)
		if r.Name == "bad" {
			close(release)
		}
	}})
	if err == nil || err.Error() != "step bad: boom" {
		t.Fatalf("err = %v", err)
	}
	if !slowFinished.Load() {
		t.Error("running step was not allowed to finish")
	}
	if lateRan.Load() {
		t.Error("a step started after the failure")
	}
	want := map[string]string{"slow": StatusOK, "bad": StatusFailed, "after-bad": StatusNotRun, "after-slow": StatusNotRun}
	for _, r := range res {
		if r.Status != want[r.Name] {
			t.Errorf("%s: %s, want %s", r.Name, r.Status, want[r.Name])
		}
	}
}

func TestRunCycleRunsNothing(t *testing.T) {
	ran := false
	_, err := Run(context.Background(), []Step{
		{Name: "x", Run: func(context.Context) error { ran = true; return nil }},
		{Name: "a", After: []string{"b"}}, {Name: "b", After: []string{"a"}},
	}, Options{})
	if err == nil || ran {
		t.Fatalf("err=%v ran=%v", err, ran)
	}
}

func TestRunPanicAndHang(t *testing.T) {
	old := abandonGrace
	abandonGrace = 50 * time.Millisecond
	t.Cleanup(func() { abandonGrace = old })

	_, err := Run(context.Background(), []Step{{Name: "p", Run: func(context.Context) error { panic("oops") }}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "p: panic: oops") {
		t.Fatalf("panic: err = %v", err)
	}
	start := time.Now()
	_, err = Run(context.Background(), []Step{{Name: "hang", Timeout: 50 * time.Millisecond,
		Run: func(context.Context) error { select {} }}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") || time.Since(start) > 2*time.Second {
		t.Fatalf("hang: err = %v after %s", err, time.Since(start))
	}
}

func TestRunDefaultTimeoutAndCancelOnFailure(t *testing.T) {
	var sawDeadline atomic.Bool
	var cancelled atomic.Bool
	_, err := Run(context.Background(), []Step{
		{Name: "deadline", Run: func(ctx context.Context) error {
			_, ok := ctx.Deadline()
			sawDeadline.Store(ok)
			return nil
		}},
		{Name: "slow", After: []string{"deadline"}, Run: func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				cancelled.Store(true)
			case <-time.After(5 * time.Second):
			}
			return nil
		}},
		{Name: "bad", After: []string{"deadline"}, Run: func(context.Context) error { return errors.New("boom") }},
	}, Options{DefaultTimeout: time.Minute, CancelOnFailure: true})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "bad" || se.Err.Error() != "boom" {
		t.Fatalf("err = %v", err)
	}
	if !sawDeadline.Load() || !cancelled.Load() {
		t.Fatalf("deadline %v, cancelled %v", sawDeadline.Load(), cancelled.Load())
	}
}

// A step that blocks for ever (on a channel, ignoring its context) cannot hold up a shutdown:
// once ctx ends, the running steps get the abandon grace (an injected timer here, no wall
// clock), then Run returns with them "abandoned"; steps that honour the cancellation finish
// normally and steps not started stay "not-run".
func TestRunAbandonsStuckStepAfterGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	never := make(chan struct{}) // never closed: the stuck step's syscall
	stuckStarted := make(chan struct{})
	politeStarted := make(chan struct{})
	timer := make(chan time.Time) // fired by the test
	var asked []time.Duration
	var mu sync.Mutex
	steps := []Step{
		{Name: "stuck", Run: func(context.Context) error { close(stuckStarted); <-never; return nil }},
		{Name: "polite", Run: func(ctx context.Context) error { close(politeStarted); <-ctx.Done(); return ctx.Err() }},
		{Name: "later", After: []string{"stuck"}, Run: func(context.Context) error { t.Error("later ran"); return nil }},
	}
	var done []string
	politeDone := make(chan struct{})
	type out struct {
		res []Result
		err error
	}
	ret := make(chan out, 1)
	go func() {
		res, err := Run(ctx, steps, Options{Abandon: true, AbandonGrace: 7 * time.Second,
			After: func(d time.Duration) <-chan time.Time {
				mu.Lock()
				asked = append(asked, d)
				mu.Unlock()
				return timer
			},
			Done: func(r Result) {
				done = append(done, r.Name+"="+r.Status)
				if r.Name == "polite" {
					close(politeDone)
				}
			}})
		ret <- out{res, err}
	}()
	<-stuckStarted
	<-politeStarted
	cancel() // the shutdown request
	<-politeDone
	// Run must be waiting on the grace timer now, not on the stuck step: it returns once the
	// timer fires (bounded: the test's own timeout ends a Run that does not).
	select {
	case timer <- time.Time{}:
	case o := <-ret:
		t.Fatalf("Run returned before the grace expired: %v %v", o.res, o.err)
	}
	o := <-ret
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", o.err)
	}
	want := map[string]string{"stuck": StatusAbandoned, "polite": StatusFailed, "later": StatusNotRun}
	for _, r := range o.res {
		if r.Status != want[r.Name] {
			t.Errorf("%s: %s, want %s", r.Name, r.Status, want[r.Name])
		}
	}
	if r := o.res[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "still running 7s after the shutdown request; abandoned") {
		t.Errorf("stuck: err = %v", r.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != 7*time.Second {
		t.Errorf("grace timers asked: %v, want one of 7s", asked)
	}
	if strings.Join(done, " ") != "polite=failed stuck=abandoned" {
		t.Errorf("Done calls: %v", done)
	}
}

// Without Abandon (stage one) a cancelled run still waits for its running steps, and with
// Abandon the grace timer is started only by the end of ctx, not by a step's failure.
func TestRunAbandonOnlyOnCancel(t *testing.T) {
	release := make(chan struct{})
	res, err := Run(context.Background(), []Step{
		{Name: "slow", Run: func(context.Context) error { <-release; return nil }},
		{Name: "bad", Run: func(context.Context) error { return errors.New("boom") }},
	}, Options{Abandon: true, AbandonGrace: 0,
		After: func(time.Duration) <-chan time.Time {
			t.Error("abandon timer started without a cancellation")
			return nil
		},
		Done: func(r Result) {
			if r.Name == "bad" {
				close(release)
			}
		}})
	if err == nil || res[0].Status != StatusOK {
		t.Fatalf("err = %v, slow = %s", err, res[0].Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	finish := make(chan struct{})
	ret := make(chan []Result, 1)
	go func() {
		res, _ := Run(ctx, []Step{{Name: "s", Run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			<-finish
			return nil
		}}}, Options{})
		ret <- res
	}()
	<-started
	cancel()
	close(finish) // "ok" below only if Run was still waiting for s
	if r := <-ret; r[0].Status != StatusOK {
		t.Fatalf("s: %s", r[0].Status)
	}
}
