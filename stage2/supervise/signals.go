package supervise

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// SIGRTMIN+4 as userspace (glibc, systemd) numbers it: 38. The ACPI tiny-power-button driver
// and container tooling send it to ask PID 1 to power off.
const sigRTMIN4 = syscall.Signal(38)

// ShutdownSignals ask PID 1 to shut the machine down.
var ShutdownSignals = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGPWR, sigRTMIN4}

// ForwardSignals are meant for the workload: PID 1 passes them on to the main process group.
var ForwardSignals = []os.Signal{unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT, unix.SIGTTIN, unix.SIGTTOU}

// maxQueued bounds the forwardable signals kept while no main process exists yet.
const maxQueued = 64

// Signals holds every signal PID 1 received from CatchSignals on: shutdown requests and
// signals to forward, queued until the supervisor is ready for them so none is lost while
// stage two runs its steps.
type Signals struct {
	c chan os.Signal

	mu       sync.Mutex
	shutdown os.Signal // first shutdown signal seen
	down     chan struct{}
	queued   []os.Signal // forwardable signals not yet taken
	more     chan struct{}
}

// CatchSignals starts catching signals. Stage two calls it first thing.
func CatchSignals() *Signals {
	s := &Signals{c: make(chan os.Signal, 128), down: make(chan struct{}), more: make(chan struct{}, 1)}
	signal.Notify(s.c, append(append([]os.Signal{}, ShutdownSignals...), ForwardSignals...)...)
	go s.loop()
	return s
}

// Stop stops catching (tests).
func (s *Signals) Stop() { signal.Stop(s.c) }

func isShutdown(sig os.Signal) bool {
	for _, x := range ShutdownSignals {
		if x == sig {
			return true
		}
	}
	return false
}

func (s *Signals) loop() {
	defer func() { _ = recover() }()
	for sig := range s.c {
		s.deliver(sig)
	}
}

// deliver classifies one signal (also used by tests).
func (s *Signals) deliver(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isShutdown(sig) {
		if s.shutdown == nil {
			s.shutdown = sig
			close(s.down)
		}
		return
	}
	if len(s.queued) < maxQueued {
		s.queued = append(s.queued, sig)
	}
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// ShutdownRequested is closed once a shutdown signal has arrived.
func (s *Signals) ShutdownRequested() <-chan struct{} { return s.down }

// ShutdownSignal is the first shutdown signal received, nil if none.
func (s *Signals) ShutdownSignal() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// Forwardable is signalled when Take has something to return.
func (s *Signals) Forwardable() <-chan struct{} { return s.more }

// Take returns and clears the queued forwardable signals, oldest first.
func (s *Signals) Take() []os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queued
	s.queued = nil
	return q
}
