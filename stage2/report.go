package stage2

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/graph"
)

// Report is the boot report written to /.easyto/run/report.toml.
type Report struct {
	Version   int          `toml:"version" json:"version"`
	StartedAt time.Time    `toml:"started_at" json:"started_at"`
	Result    string       `toml:"result" json:"result"` // ok | failed
	Error     string       `toml:"error,omitempty" json:"error,omitempty"`
	Steps     []ReportStep `toml:"step" json:"steps"`
}

// ReportStep is one step of the report. Offsets and durations are in milliseconds.
type ReportStep struct {
	Name       string  `toml:"name" json:"name"`
	Status     string  `toml:"status" json:"status"` // ok | failed | skipped | not-run | abandoned
	StartMS    float64 `toml:"start_ms" json:"start_ms"`
	DurationMS float64 `toml:"duration_ms" json:"duration_ms"`
	Error      string  `toml:"error,omitempty" json:"error,omitempty"`
	// After names the steps this one waited for (the timeline's critical path follows them).
	After []string `toml:"after,omitempty" json:"after,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewReport builds the report from graph results.
func NewReport(started time.Time, results []graph.Result, err error) Report {
	r := Report{Version: 1, StartedAt: started.UTC().Round(time.Millisecond), Result: "ok"}
	if err != nil {
		r.Result, r.Error = "failed", oneLine(err.Error())
	}
	for _, s := range results {
		rs := ReportStep{Name: s.Name, Status: s.Status, After: s.After}
		if s.Status != graph.StatusNotRun {
			rs.StartMS, rs.DurationMS = ms(s.Start), ms(s.Duration)
		}
		if s.Err != nil && s.Status == graph.StatusSkipped {
			rs.Error = oneLine(graph.SkipReason(s.Err))
		} else if s.Err != nil {
			rs.Error = oneLine(s.Err.Error())
		}
		r.Steps = append(r.Steps, rs)
	}
	return r
}

// Encode renders the report as TOML.
func (r Report) Encode() ([]byte, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DecodeReport reads a report.
func DecodeReport(b []byte) (Report, error) {
	var r Report
	if _, err := toml.Decode(string(b), &r); err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	return r, nil
}

// Table renders the report for a person.
func (r Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "boot report: %s", r.Result)
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(&b, " (started %s)", r.StartedAt.Format(time.RFC3339))
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tSTART\tDURATION\tERROR")
	for _, s := range r.Steps {
		start, dur := "-", "-"
		if s.Status != graph.StatusNotRun {
			start = fmt.Sprintf("+%s", console.Duration(time.Duration(s.StartMS*float64(time.Millisecond))))
			dur = console.Duration(time.Duration(s.DurationMS * float64(time.Millisecond)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Status, start, dur, s.Error)
	}
	tw.Flush()
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	return b.String()
}

// FormatJournal renders journal entries one per line ("  mount    /dev/sdf on ...").
func FormatJournal(entries []JournalEntry) string {
	var b strings.Builder
	for _, e := range entries {
		if e.Detail == "" {
			fmt.Fprintf(&b, "  %s\n", e.Op)
		} else {
			fmt.Fprintf(&b, "  %-8s %s\n", e.Op, e.Detail)
		}
	}
	return b.String()
}
