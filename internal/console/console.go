// Package console writes the one-line log events both stages print on the console:
//
//	[  0.412] info: network: eth0 10.0.2.15/24 in 71ms
//
// The time is seconds since boot (CLOCK_BOOTTIME), so lines from stage one and stage two,
// which are two different programs, share one clock.
package console

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Level orders log events; Debug is shown only when enabled.
type Level int

// Levels, most severe first.
const (
	Error Level = iota
	Warn
	Info
	Debug
)

func (l Level) String() string {
	switch l {
	case Error:
		return "error"
	case Warn:
		return "warning"
	case Info:
		return "info"
	default:
		return "debug"
	}
}

var (
	mu      sync.Mutex
	out     io.Writer = os.Stderr
	debugOn atomic.Bool
	// Since returns the time since boot; tests replace it to get stable output.
	Since = sinceBoot
)

// SetOutput sends log lines to w (the console by default: PID 1's stderr).
func SetOutput(w io.Writer) {
	mu.Lock()
	out = w
	mu.Unlock()
}

// Output returns the writer log lines go to.
func Output() io.Writer {
	mu.Lock()
	defer mu.Unlock()
	return out
}

// SetDebug turns debug lines on or off.
func SetDebug(on bool) { debugOn.Store(on) }

// DebugEnabled reports whether debug lines are shown.
func DebugEnabled() bool { return debugOn.Load() }

func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Format renders one log line (without writing it); exported for tests and the report.
func Format(at time.Duration, l Level, msg string) string {
	msg = strings.TrimRight(msg, "\n")
	return fmt.Sprintf("[%4d.%03d] %s: %s\n", int64(at/time.Second), int64(at%time.Second/time.Millisecond), l, msg)
}

// Logf writes one line at level l.
func Logf(l Level, format string, args ...any) {
	if l == Debug && !debugOn.Load() {
		return
	}
	line := Format(Since(), l, fmt.Sprintf(format, args...))
	mu.Lock()
	defer mu.Unlock()
	io.WriteString(out, line)
}

// Errorf logs at error level.
func Errorf(format string, args ...any) { Logf(Error, format, args...) }

// Warnf logs at warning level.
func Warnf(format string, args ...any) { Logf(Warn, format, args...) }

// Infof logs at info level.
func Infof(format string, args ...any) { Logf(Info, format, args...) }

// Debugf logs at debug level when debug is enabled.
func Debugf(format string, args ...any) { Logf(Debug, format, args...) }

// Failure describes a failed boot for the banner.
type Failure struct {
	Stage    string // "stage1" or "stage2"
	Step     string // the step that failed
	Err      error
	UserData string // where the user data is, "" if none
	Plan     string // where the plan is, "" if not written
	Action   string // "powering off" or "rebooting"
}

// Banner renders the failure banner: the last thing a failed boot prints.
func Banner(f Failure) string {
	var b strings.Builder
	line := strings.Repeat("=", 72)
	b.WriteString(line + "\n")
	fmt.Fprintf(&b, "BOOT FAILED in %s, step %s\n", f.Stage, f.Step)
	if f.Err != nil {
		for _, l := range strings.Split(strings.TrimRight(f.Err.Error(), "\n"), "\n") {
			fmt.Fprintf(&b, "  error: %s\n", l)
		}
	}
	if f.UserData != "" {
		fmt.Fprintf(&b, "  user data: %s\n", f.UserData)
	}
	if f.Plan != "" {
		fmt.Fprintf(&b, "  plan: %s\n", f.Plan)
	}
	if f.Action != "" {
		fmt.Fprintf(&b, "  %s\n", f.Action)
	}
	b.WriteString(line + "\n")
	return b.String()
}

// PrintBanner writes the banner to the console output.
func PrintBanner(f Failure) {
	s := Banner(f)
	mu.Lock()
	defer mu.Unlock()
	io.WriteString(out, s)
}

// Duration renders a duration the way console lines and reports show it: "71ms" under a
// second, else seconds with milliseconds ("1.204s").
func Duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}
