package stage2

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/bootsteps"
	"github.com/bootplan/bootplan/internal/graph"
)

func TestReportRoundTripAndTable(t *testing.T) {
	r := NewReport(time.Unix(0, 0), []graph.Result{
		{Name: "env", Status: graph.StatusOK, Start: 2 * time.Millisecond, Duration: 12 * time.Millisecond},
		{Name: "command", Status: graph.StatusFailed, Start: 20 * time.Millisecond, Duration: time.Millisecond, Err: errors.New("command \"x\" not found")},
		{Name: "readonly-root", Status: graph.StatusNotRun},
	}, errors.New("step command: nope"))
	b, back := roundTrip(t, r)
	if strings.Contains(string(b), "stage") {
		t.Errorf("a report of stage two alone names a stage:\n%s", b)
	}
	tab := back.Table()
	for _, want := range []string{"boot report: failed", "env  ", "12ms", "not-run", `command "x" not found`, "error: step command: nope"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

// Stage one's steps come first and every offset counts from stage one's start; the gap
// between the stages shows as exec-stage2 and stage2-setup.
func TestReportWithStage1(t *testing.T) {
	r := NewReport(time.Unix(0, 0), []graph.Result{
		{Name: "env", Status: graph.StatusOK, Start: 2 * time.Millisecond, Duration: 12 * time.Millisecond},
		{Name: "readonly-root", Status: graph.StatusNotRun},
	}, nil)
	s1 := bootsteps.Stage1{StartBoottimeMS: 5000, ExecMS: 600, Steps: []bootsteps.Step{
		{Name: "mounts", Status: graph.StatusOK, StartMS: 1, DurationMS: 80},
		{Name: "network", Status: graph.StatusOK, StartMS: 90, DurationMS: 400, After: []string{"mounts"}},
	}}
	r = r.WithStage1(s1, 5800*time.Millisecond, 5850*time.Millisecond)
	want := []ReportStep{
		{Name: "mounts", Stage: 1, Status: "ok", StartMS: 1, DurationMS: 80},
		{Name: "network", Stage: 1, Status: "ok", StartMS: 90, DurationMS: 400, After: []string{"mounts"}},
		{Name: "exec-stage2", Stage: 2, Status: "ok", StartMS: 600, DurationMS: 200},
		{Name: "stage2-setup", Stage: 2, Status: "ok", StartMS: 800, DurationMS: 50},
		{Name: "env", Stage: 2, Status: "ok", StartMS: 852, DurationMS: 12},
		{Name: "readonly-root", Stage: 2, Status: "not-run"},
	}
	if !reflect.DeepEqual(r.Steps, want) {
		t.Fatalf("steps\n%+v\nwant\n%+v", r.Steps, want)
	}
	_, back := roundTrip(t, r)
	if !reflect.DeepEqual(back.Steps, want) {
		t.Fatalf("round trip lost the stages: %+v", back.Steps)
	}
	tab := back.Table()
	for _, want := range []string{"STAGE", "1      mounts", "2      exec-stage2", "+852ms"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	// A stage-two main time that cannot be right (before stage one's exec) adds no pseudo-steps.
	if got := NewReport(time.Unix(0, 0), nil, nil).WithStage1(s1, 5100*time.Millisecond, 5850*time.Millisecond); len(got.Steps) != 2 {
		t.Errorf("implausible main time: steps %+v", got.Steps)
	}
}

// roundTrip encodes r and decodes the result: the encoded report and what it reads back as.
func roundTrip(t *testing.T, r Report) ([]byte, Report) {
	t.Helper()
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReport(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, back
}
