package stage2

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/uevent"
)

// The uevent listener runs on its own goroutine for the life of PID 1: a panic while handling
// one event must not kill the process (a kernel panic), and the next event is still handled;
// a receive error is logged and paced, not a busy loop.
func TestWatchUeventsSurvivesPanicAndErrors(t *testing.T) {
	var logs bytes.Buffer
	prev := console.Output()
	console.SetOutput(&logs)
	t.Cleanup(func() { console.SetOutput(prev) })
	old := ueventErrorPause
	ueventErrorPause = 20 * time.Millisecond
	t.Cleanup(func() { ueventErrorPause = old })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	add := func(dev string) uevent.Event {
		return uevent.Event{Action: "add", Subsystem: "block", DevName: dev}
	}
	script := []func() (uevent.Event, error){
		func() (uevent.Event, error) {
			return uevent.Event{}, errors.New("uevent receive: no buffer space available")
		},
		func() (uevent.Event, error) { return add("nvme1n1"), nil },
		func() (uevent.Event, error) { return add("nvme2n1"), nil },
	}
	var errAt, nextAt time.Time
	n := 0
	next := func(ctx context.Context) (uevent.Event, error) {
		if n == len(script) {
			cancel()
			return uevent.Event{}, ctx.Err()
		}
		if n == 1 {
			nextAt = time.Now()
		}
		f := script[n]
		n++
		e, err := f()
		if err != nil {
			errAt = time.Now()
		}
		return e, err
	}
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchUevents(ctx, next, func(dev string, _ int) {
			seen = append(seen, dev)
			if dev == "nvme1n1" {
				panic("index out of range parsing identify data")
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("watchUevents did not return after its context ended")
	}
	if got := strings.Join(seen, ","); got != "nvme1n1,nvme2n1" {
		t.Fatalf("handled %q, want nvme1n1,nvme2n1", got)
	}
	if d := nextAt.Sub(errAt); d < ueventErrorPause {
		t.Errorf("next receive %s after an error, want a pause of %s", d, ueventErrorPause)
	}
	for _, w := range []string{"nvme: uevents: uevent receive: no buffer space available", "nvme: handling the uevent for nvme1n1 panicked"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs lack %q:\n%s", w, logs.String())
		}
	}
}
