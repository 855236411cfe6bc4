package bootsteps

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/graph"
)

func TestFromResultsAndRoundTrip(t *testing.T) {
	res := []graph.Result{
		{Name: "mounts", Status: graph.StatusOK, Start: 0, Duration: 80 * time.Millisecond},
		{Name: "network", Status: graph.StatusOK, Start: 85 * time.Millisecond, Duration: 300*time.Millisecond + 1500*time.Microsecond, After: []string{"mounts"}},
		{Name: "compile", Status: graph.StatusNotRun, Err: errors.New("x")},
	}
	s := Stage1{StartBoottimeMS: 5000.25, ExecMS: 420, Steps: FromResults(res, 2*time.Millisecond)}
	want := []Step{
		{Name: "mounts", Status: graph.StatusOK, StartMS: 2, DurationMS: 80},
		{Name: "network", Status: graph.StatusOK, StartMS: 87, DurationMS: 301.5, After: []string{"mounts"}},
		{Name: "compile", Status: graph.StatusNotRun},
	}
	if !reflect.DeepEqual(s.Steps, want) {
		t.Fatalf("steps %+v, want %+v", s.Steps, want)
	}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip %+v, want %+v", got, s)
	}
	if _, err := Decode([]byte("step = 3")); err == nil {
		t.Fatal("Decode accepted a malformed file")
	}
}
