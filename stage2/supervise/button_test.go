package supervise

import (
	"os"
	"testing"
	"time"
)

func quietSupervisor(files []*os.File) *Supervisor {
	return New(Config{Signals: &Signals{down: make(chan struct{}), more: make(chan struct{}, 1)},
		PowerButton: true, PowerButtonFiles: files, SpotInterval: -1})
}

func pipeWith(t *testing.T, events ...[]byte) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	for _, e := range events {
		if _, err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	return r, w
}

// A press queued on a handed-over device before the monitors start (pressed during stage one)
// is a shutdown request by the time StartMonitors returns: before any step runs.
func TestPowerButtonQueuedPressOnHandedOverFile(t *testing.T) {
	other, _ := pipeWith(t, event(evKey, 30, 1)) // a second device with no press
	r, _ := pipeWith(t, event(evKey, keyPower, 0), event(evKey, keyPower, 1), event(0, 0, 0))
	s := quietSupervisor([]*os.File{other, r})
	s.StartMonitors()
	select {
	case <-s.Triggered():
	default:
		t.Fatal("a press queued on the handed-over device did not trigger the shutdown in StartMonitors")
	}
	if reason, ok := s.pendingShutdown(); !ok || reason != "ACPI power button" {
		t.Errorf("pending shutdown %q, %v", reason, ok)
	}
}

// Without a press queued, StartMonitors returns at once (the drain never waits), and a press
// that comes later on a handed-over file is read by the watcher.
func TestPowerButtonLaterPressOnHandedOverFile(t *testing.T) {
	r, w := pipeWith(t, event(evKey, keyPower, 0), event(evKey, 30, 1))
	s := quietSupervisor([]*os.File{r})
	s.StartMonitors()
	select {
	case <-s.Triggered():
		t.Fatal("no press, yet a shutdown was triggered")
	default:
	}
	if _, err := w.Write(event(evKey, keyPower, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Triggered():
	case <-time.After(30 * time.Second): // a bound, not a timing assertion
		t.Fatal("the watcher did not read the press from the handed-over file")
	}
}
