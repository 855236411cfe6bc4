package stage2

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bootplan/bootplan/internal/bootsteps"
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
	Name string `toml:"name" json:"name"`
	// Stage is 1 or 2 when the report holds both stages (offsets then count from stage
	// one's start); 0 in a report of stage two alone.
	Stage      int     `toml:"stage,omitzero" json:"stage,omitempty"`
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

// WithStage1 puts stage one's steps before stage two's, and every offset on stage one's
// start: stage two's graph started at graphAt and its main at mainAt (CLOCK_BOOTTIME; 0 =
// unknown). Two pseudo-steps show the time between the stages: exec-stage2 (stage one's
// execve to stage two's main: loading the binary and its package initialisation) and
// stage2-setup (main to the first step).
func (r Report) WithStage1(s1 bootsteps.Stage1, mainAt, graphAt time.Duration) Report {
	off := bootsteps.MS(graphAt) - s1.StartBoottimeMS
	steps := make([]ReportStep, 0, len(s1.Steps)+2+len(r.Steps))
	for _, s := range s1.Steps {
		steps = append(steps, ReportStep{Name: s.Name, Stage: 1, Status: s.Status, StartMS: s.StartMS, DurationMS: s.DurationMS, After: s.After})
	}
	if main := bootsteps.MS(mainAt) - s1.StartBoottimeMS; mainAt > 0 && main >= s1.ExecMS && off >= main {
		steps = append(steps,
			ReportStep{Name: "exec-stage2", Stage: 2, Status: graph.StatusOK, StartMS: s1.ExecMS, DurationMS: round3(main - s1.ExecMS)},
			ReportStep{Name: "stage2-setup", Stage: 2, Status: graph.StatusOK, StartMS: round3(main), DurationMS: round3(off - main)})
	}
	for _, s := range r.Steps {
		s.Stage = 2
		if s.Status != graph.StatusNotRun {
			s.StartMS = round3(s.StartMS + off)
		}
		steps = append(steps, s)
	}
	r.Steps = steps
	return r
}

// round3 keeps a sum of milliseconds at microseconds.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

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
	staged := len(r.Steps) > 0 && r.Steps[0].Stage != 0
	if staged {
		fmt.Fprint(tw, "STAGE\t")
	}
	fmt.Fprintln(tw, "STEP\tSTATUS\tSTART\tDURATION\tERROR")
	for _, s := range r.Steps {
		if staged {
			fmt.Fprintf(tw, "%d\t", s.Stage)
		}
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
