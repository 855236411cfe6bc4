// Package supervise is what PID 1 does after stage two's steps: start the services and the
// main process, forward signals to the workload, watch for the reasons to stop (main exit,
// shutdown signals, the ACPI power button, a spot interruption notice) and then shut the
// machine down without losing data: SIGTERM, grace period, SIGKILL, reap, sync, unmount,
// read-only root, power off. Every wait goes through the one reaper (internal/reaper).
package supervise

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/halt"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
	"golang.org/x/sys/unix"
)

// DefaultGrace is the shutdown grace period when the plan has none.
const DefaultGrace = 10 * time.Second

// DefaultSpotInterval is how often the spot interruption notice is polled.
const DefaultSpotInterval = 5 * time.Second

// Config is what the supervisor works with. Plan, Host and Reaper are required.
type Config struct {
	Plan    *plan.Plan
	Host    stage2.Host // files for service init, sync, unmount, remount, modules
	Reaper  *reaper.Reaper
	Signals *Signals     // nil: CatchSignals is called by New
	IMDS    *imds.Client // nil: no spot monitor, no ssh key

	Grace        time.Duration // 0: the plan's ShutdownGrace (0 allowed), else DefaultGrace
	SpotInterval time.Duration // 0: DefaultSpotInterval; < 0: no spot monitor
	PowerButton  bool          // load button+evdev and watch the ACPI power button
	Reboot       bool          // reboot instead of powering off at the end (Main: the plan's command.reboot)

	// KillOthers sends SIGTERM/SIGKILL to every process found in ProcRoot during shutdown.
	// Nil means "only when this process is PID 1" — never scan and kill a developer's host.
	KillOthers *bool
	ProcRoot   string // default /proc

	// PowerOff ends the machine after a clean shutdown; nil: halt.PowerOff / halt.Reboot.
	// Tests replace it; it may return (then Run returns).
	PowerOff func(reboot bool)
	// Fail prints the failure banner and ends the machine; nil: halt.Fail.
	Fail func(console.Failure)

	// Service backoff (defaults 1 s, 60 s, 60 s).
	RestartBase, RestartCap, RestartReset time.Duration
	// StopTimeout bounds the wait for the remaining processes after SIGKILL (default 5 s).
	StopTimeout time.Duration
	// FinishTimeout bounds each of the sync, unmount and remount phases (default 10 s): a
	// stuck disk or filesystem must not keep the machine from powering off.
	FinishTimeout time.Duration
}

// Supervisor runs the machine's processes until it stops. Create it with New.
type Supervisor struct {
	cfg   Config
	grace time.Duration
	self  int

	mu       sync.Mutex
	mainPid  int
	services []*service
	stopping bool

	trigger   chan string   // shutdown reasons
	triggered chan struct{} // closed by the first Trigger
	trigOnce  sync.Once
	monOnce   sync.Once
	stopOnce  sync.Once
	stopc     chan struct{} // closed when shutdown begins: monitors and restart loops end

	reports     []chan struct{} // closed by each reportExit goroutine when it ends (mu)
	reportsDone chan struct{}   // closed when terminate stops waiting for them
	reportsOnce sync.Once
}

// New returns a supervisor for cfg.
func New(cfg Config) *Supervisor {
	if cfg.Signals == nil {
		cfg.Signals = CatchSignals()
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.SpotInterval == 0 {
		cfg.SpotInterval = DefaultSpotInterval
	}
	if cfg.RestartBase <= 0 {
		cfg.RestartBase = time.Second
	}
	if cfg.RestartCap <= 0 {
		cfg.RestartCap = 60 * time.Second
	}
	if cfg.RestartReset <= 0 {
		cfg.RestartReset = 60 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.FinishTimeout <= 0 {
		cfg.FinishTimeout = 10 * time.Second
	}
	if cfg.KillOthers == nil {
		v := os.Getpid() == 1
		cfg.KillOthers = &v
	}
	if cfg.PowerOff == nil {
		cfg.PowerOff = func(reboot bool) {
			if reboot {
				halt.Reboot()
			}
			halt.PowerOff()
		}
	}
	if cfg.Fail == nil {
		cfg.Fail = halt.Fail
	}
	grace := cfg.Grace
	switch {
	case grace > 0:
	case cfg.Plan != nil:
		// The plan is explicit: 0 means SIGKILL right after SIGTERM, not "use a default".
		grace = time.Duration(max(cfg.Plan.Command.ShutdownGrace, 0)) * time.Second
	default:
		grace = DefaultGrace
	}
	return &Supervisor{cfg: cfg, grace: grace, self: os.Getpid(),
		trigger: make(chan string, 16), triggered: make(chan struct{}), stopc: make(chan struct{}),
		reportsDone: make(chan struct{})}
}

// Trigger asks for a shutdown with a reason (safe from any goroutine, never blocks).
func (s *Supervisor) Trigger(reason string) {
	select {
	case s.trigger <- reason:
	default:
	}
	s.trigOnce.Do(func() { close(s.triggered) })
}

// Triggered is closed once a monitor or Trigger asked for the shutdown.
func (s *Supervisor) Triggered() <-chan struct{} { return s.triggered }

// goSafe runs f in a goroutine that turns a panic into a shutdown instead of a crash.
func (s *Supervisor) goSafe(name string, f func()) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				console.Errorf("supervisor: %s panicked: %v\n%s", name, p, debug.Stack())
				s.Trigger(name + " panicked")
			}
		}()
		f()
	}()
}

// Run starts the services and the main process, supervises them until a shutdown trigger,
// then shuts down and powers off. It returns only when the PowerOff or Fail hook returns
// (tests); the returned string is the shutdown reason.
func (s *Supervisor) Run(main stage2.Cmd) (reason string) {
	defer func() {
		if p := recover(); p != nil {
			console.Errorf("supervisor panicked: %v\n%s", p, debug.Stack())
			reason = fmt.Sprintf("supervisor panicked: %v", p)
			s.Shutdown(reason)
		}
	}()
	console.Infof("starting supervisor")
	if reason, ok := s.pendingShutdown(); ok {
		s.Shutdown(reason)
		return reason
	}
	// A shutdown request while the services start (IMDS, ssh-keygen: up to minutes) is acted
	// on at once, without starting the main process.
	ctx, cancel := s.untilShutdownRequest()
	err := s.startServices(ctx)
	cancel()
	if reason, ok := s.pendingShutdown(); ok {
		s.Shutdown(reason)
		return reason
	}
	if err != nil {
		s.FailAndPowerOff(console.Failure{Stage: "stage2", Step: "services", Err: err})
		return "service failed: " + err.Error()
	}
	// readonly-root-fs: here, as easyto does, once the services have written their files
	// (ssh authorized_keys and host keys) and before the main process. (With replace-init,
	// which starts no service, stage two's readonly-root step does it.)
	if p := s.cfg.Plan; p != nil && p.Command.ReadonlyRoot {
		if err := s.cfg.Host.RemountRootReadonly(); err != nil {
			s.FailAndPowerOff(console.Failure{Stage: "stage2", Step: "readonly-root", Err: err})
			return "remounting / read-only failed: " + err.Error()
		}
		console.Infof("remounted / read-only (readonly-root-fs)")
	}

	pid, exited, err := stage2.StartReaped(s.cfg.Reaper, main)
	if err != nil {
		console.Errorf("execve failed: %s", errnoText(err))
		s.FailAndPowerOff(console.Failure{Stage: "stage2", Step: "command",
			Err: fmt.Errorf("starting main process %s: %w", mainName(main), err)})
		return "main process failed to start"
	}
	s.mu.Lock()
	s.mainPid = pid
	s.mu.Unlock()
	console.Infof("main process started with pid %d", pid)
	console.Infof("boot completed in %dms", console.Since().Milliseconds())

	s.StartMonitors()
	reason, done := s.wait(pid, exited)
	if !done {
		// The shutdown stops it: its status is still logged when it is reaped.
		s.reportExit("main process exited", exited)
	}
	s.Shutdown(reason)
	return reason
}

// pendingShutdown returns the reason of a shutdown asked for before the main process started
// (a shutdown signal, or a Trigger from a monitor).
func (s *Supervisor) pendingShutdown() (string, bool) {
	if sig := s.cfg.Signals.ShutdownSignal(); sig != nil {
		return fmt.Sprintf("received %s during boot", signalName(sig)), true
	}
	select {
	case r := <-s.trigger:
		return r, true
	default:
		return "", false
	}
}

// untilShutdownRequest returns a context that ends at the first shutdown signal or Trigger.
func (s *Supervisor) untilShutdownRequest() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.cfg.Signals.ShutdownRequested():
		case <-s.triggered:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// wait forwards signals until something asks for the shutdown and returns why, and whether
// the main process has exited (and its status been logged).
func (s *Supervisor) wait(pid int, exited <-chan reaper.Status) (string, bool) {
	s.forward(pid)
	for {
		select {
		case st := <-exited:
			console.Infof("main process exited: %s", st)
			return "main process exited: " + st.String(), true
		case <-s.cfg.Signals.ShutdownRequested():
			return "received " + signalName(s.cfg.Signals.ShutdownSignal()), false
		case <-s.cfg.Signals.Forwardable():
			s.forward(pid)
		case r := <-s.trigger:
			return r, false
		}
	}
}

// reportExit logs "<what>: <status>" once the process behind exited is reaped during the
// shutdown. terminate waits (briefly) for these reports after reaping everything, so they
// come before "powering off".
func (s *Supervisor) reportExit(what string, exited <-chan reaper.Status) {
	done := make(chan struct{})
	s.mu.Lock()
	s.reports = append(s.reports, done)
	s.mu.Unlock()
	go func() {
		defer close(done)
		select {
		case st := <-exited:
			console.Infof("%s: %s", what, st)
		case <-s.reportsDone:
		}
	}()
}

func (s *Supervisor) forward(pid int) {
	for _, sig := range s.cfg.Signals.Take() {
		console.Debugf("forwarding %s to the main process group %d", signalName(sig), pid)
		if err := unix.Kill(-pid, sig.(syscall.Signal)); err != nil && err != unix.ESRCH {
			console.Warnf("forwarding %s to the main process: %v", signalName(sig), err)
		}
	}
}

// StartMonitors starts the spot and power button monitors (once; Run does it too).
func (s *Supervisor) StartMonitors() {
	s.monOnce.Do(s.startMonitors)
}

func (s *Supervisor) startMonitors() {
	if s.cfg.IMDS != nil && s.cfg.SpotInterval > 0 {
		s.goSafe("spot monitor", func() { s.watchSpot(s.cfg.SpotInterval) })
	}
	if s.cfg.PowerButton {
		s.goSafe("power button", s.watchPowerButton)
	}
}

func signalName(sig os.Signal) string {
	if n, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(n); name != "" {
			return name
		}
		if n == sigRTMIN4 {
			return "SIGRTMIN+4"
		}
		return fmt.Sprintf("signal %d", int(n))
	}
	return fmt.Sprint(sig)
}

func mainName(c stage2.Cmd) string {
	if s := c.Shown(); s != "" { // never the expanded argv: it may hold secrets
		return s
	}
	return "(empty command)"
}

// errnoText renders an exec error the way the C library does ("No such file or directory"),
// which expected-output tests depend on.
func errnoText(err error) string {
	var en syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			en = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if en == 0 {
		return err.Error()
	}
	t := en.Error()
	return strings.ToUpper(t[:1]) + t[1:]
}

// ctxUntilStop returns a context cancelled when the shutdown begins.
func (s *Supervisor) ctxUntilStop() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.stopc:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}
