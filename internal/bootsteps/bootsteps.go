// Package bootsteps carries stage one's step results to stage two, which merges them into the
// boot report (/.easyto/run/report.toml), so the report shows the whole boot from PID 1's
// start. The times are on CLOCK_BOOTTIME, which runs on across stage one's execve.
package bootsteps

import (
	"bytes"
	"fmt"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/graph"
)

// Path is where stage one leaves its steps for stage two.
const Path = "/.easyto/run/stage1-steps.toml"

// Step is one finished step. Offsets and durations are in milliseconds since stage one's start.
type Step struct {
	Name       string   `toml:"name"`
	Status     string   `toml:"status"`
	StartMS    float64  `toml:"start_ms"`
	DurationMS float64  `toml:"duration_ms"`
	After      []string `toml:"after,omitempty"` // the steps it waited for
}

// Stage1 is stage one's part of the boot.
type Stage1 struct {
	// StartBoottimeMS is CLOCK_BOOTTIME when stage one's main began.
	StartBoottimeMS float64 `toml:"start_boottime_ms"`
	// ExecMS is when stage one exec'd stage two, since its start.
	ExecMS float64 `toml:"exec_ms"`
	Steps  []Step  `toml:"step"`
}

// Boottime reads CLOCK_BOOTTIME (0 if it cannot).
func Boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// MS renders a duration in milliseconds, to the microsecond.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// FromResults turns graph results into steps; graphAt is the graph's start since stage one's.
func FromResults(results []graph.Result, graphAt time.Duration) []Step {
	steps := make([]Step, 0, len(results))
	for _, r := range results {
		s := Step{Name: r.Name, Status: r.Status, After: r.After}
		if r.Status != graph.StatusNotRun {
			s.StartMS, s.DurationMS = MS(graphAt+r.Start), MS(r.Duration)
		}
		steps = append(steps, s)
	}
	return steps
}

// Encode renders s as TOML.
func (s Stage1) Encode() ([]byte, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode reads what Encode wrote.
func Decode(b []byte) (Stage1, error) {
	var s Stage1
	if _, err := toml.Decode(string(b), &s); err != nil {
		return Stage1{}, fmt.Errorf("%s: %w", Path, err)
	}
	return s, nil
}
