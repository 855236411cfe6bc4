package stage2

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/graph"
)

func TestReportRoundTripAndTable(t *testing.T) {
	r := NewReport(time.Unix(0, 0), []graph.Result{
		{Name: "env", Status: graph.StatusOK, Start: 2 * time.Millisecond, Duration: 12 * time.Millisecond},
		{Name: "command", Status: graph.StatusFailed, Start: 20 * time.Millisecond, Duration: time.Millisecond, Err: errors.New("command \"x\" not found")},
		{Name: "readonly-root", Status: graph.StatusNotRun},
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
