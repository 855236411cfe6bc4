package stage2

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckGraph(t *testing.T) {
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
			order, err := CheckGraph(tt.steps)
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

func TestRunGraphOrderAndParallel(t *testing.T) {
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
	res, err := RunGraph(context.Background(), steps, GraphHooks{})
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

func TestRunGraphFirstFailure(t *testing.T) {
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
	res, err := RunGraph(context.Background(), steps, GraphHooks{Done: func(r StepResult) {
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

func TestRunGraphCycleRunsNothing(t *testing.T) {
	ran := false
	_, err := RunGraph(context.Background(), []Step{
		{Name: "x", Run: func(context.Context) error { ran = true; return nil }},
		{Name: "a", After: []string{"b"}}, {Name: "b", After: []string{"a"}},
	}, GraphHooks{})
	if err == nil || ran {
		t.Fatalf("err=%v ran=%v", err, ran)
	}
}

func TestReportRoundTripAndTable(t *testing.T) {
	r := NewReport(time.Unix(0, 0), []StepResult{
		{Name: "env", Status: StatusOK, Start: 2 * time.Millisecond, Duration: 12 * time.Millisecond},
		{Name: "command", Status: StatusFailed, Start: 20 * time.Millisecond, Duration: time.Millisecond, Err: errors.New("command \"x\" not found")},
		{Name: "readonly-root", Status: StatusNotRun},
	}, errors.New("step command: nope"))
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReport(b)
	if err != nil {
		t.Fatal(err)
	}
	tab := back.Table()
	for _, want := range []string{"boot report: failed", "env  ", "12ms", "not-run", `command "x" not found`, "error: step command: nope"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}
