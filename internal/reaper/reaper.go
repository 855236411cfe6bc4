// Package reaper owns every wait of the process it runs in (PID 1 in production).
//
// One goroutine, locked to its OS thread, is woken by SIGCHLD and calls wait4(-1, WNOHANG)
// until nothing is left to reap. Each reaped exit is handed to whoever asked for that pid
// (Wait, Start, StartWith); an exit nobody asked for is kept for a bounded time and count so
// a later Wait still gets it, and counted as an orphan when the pid was never registered.
//
// Nothing else in the process may wait for children: os/exec's Cmd.Wait, os.Process.Wait and
// wait4 on a specific pid would race with this loop. Start processes through Start or
// StartWith (which register the pid atomically with the fork) and wait through Wait.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Status is how one child ended.
type Status struct {
	Pid        int
	WaitStatus unix.WaitStatus
}

// Exited reports whether the process exited normally (not killed by a signal).
func (s Status) Exited() bool { return s.WaitStatus.Exited() }

// ExitCode is the exit code, or 128+signal for a process killed by a signal (as a shell
// reports it).
func (s Status) ExitCode() int {
	if s.WaitStatus.Signaled() {
		return 128 + int(s.WaitStatus.Signal())
	}
	return s.WaitStatus.ExitStatus()
}

// Signal is the terminating signal, 0 when the process exited.
func (s Status) Signal() syscall.Signal {
	if s.WaitStatus.Signaled() {
		return s.WaitStatus.Signal()
	}
	return 0
}

// String renders the status as logged: "exited 3", "killed by SIGKILL (137)",
// "killed by SIGSEGV (139, core dumped)".
func (s Status) String() string { return Describe(s.WaitStatus) }

// Describe renders a wait status: "exited 3", "killed by SIGKILL (137)".
func Describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited %d", ws.ExitStatus())
	case ws.Signaled():
		name := unix.SignalName(ws.Signal())
		if name == "" {
			name = fmt.Sprintf("signal %d", int(ws.Signal()))
		}
		core := ""
		if ws.CoreDump() {
			core = ", core dumped"
		}
		return fmt.Sprintf("killed by %s (%d%s)", name, 128+int(ws.Signal()), core)
	case ws.Stopped():
		return fmt.Sprintf("stopped by %s", unix.SignalName(ws.StopSignal()))
	case ws.Continued():
		return "continued"
	default:
		return fmt.Sprintf("wait status %#x", uint32(ws))
	}
}

// Bounds on exits nobody has asked for yet.
const (
	DefaultUnclaimedMax = 4096
	DefaultUnclaimedTTL = 5 * time.Minute
)

type unclaimed struct {
	st Status
	at time.Time
}

// Reaper is the process's one waiter. Create it once with New, as early as possible.
type Reaper struct {
	mu        sync.Mutex
	waiters   map[int][]chan Status // registered pids not yet reaped
	unclaimed map[int]unclaimed
	order     []int // unclaimed pids, oldest first (may hold stale pids)
	changed   chan struct{}
	reaped    uint64
	// busy: a reap pass is running; exits it took from the kernel may not be dispatched yet.
	busy bool
	// beforeDispatch, when set (tests), runs in a pass between wait4 and dispatch.
	beforeDispatch func()

	orphans  atomic.Uint64
	onOrphan atomic.Pointer[func(Status)]

	// UnclaimedMax and UnclaimedTTL bound the exits kept for a later Wait.
	UnclaimedMax int
	UnclaimedTTL time.Duration

	sigc chan os.Signal
	stop chan struct{}
	done chan struct{}
	kick chan struct{}
	now  func() time.Time
}

// New starts the reaper goroutine and returns it. Only one Reaper may run in a process.
// Exits that happened before New (a SIGCHLD nobody listened for) are reaped right away.
func New() *Reaper { return newReaper(nil) }

// newReaper is New with a test hook run in every pass between wait4 and dispatch.
func newReaper(beforeDispatch func()) *Reaper {
	r := &Reaper{
		beforeDispatch: beforeDispatch,
		waiters:        map[int][]chan Status{},
		unclaimed:      map[int]unclaimed{},
		changed:        make(chan struct{}),
		UnclaimedMax:   DefaultUnclaimedMax,
		UnclaimedTTL:   DefaultUnclaimedTTL,
		sigc:           make(chan os.Signal, 1),
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
		kick:           make(chan struct{}, 1),
		now:            time.Now,
	}
	signal.Notify(r.sigc, unix.SIGCHLD)
	started := make(chan struct{})
	go r.loop(started)
	<-started
	return r
}

// Stop ends the reaper goroutine (tests; PID 1 never stops it).
func (r *Reaper) Stop() {
	signal.Stop(r.sigc)
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// OnOrphan sets a hook called (from the reaper goroutine, so it must not block) for every
// reaped pid that was never registered: a process reparented to us.
func (r *Reaper) OnOrphan(f func(Status)) { r.onOrphan.Store(&f) }

// Orphans is the number of unregistered pids reaped so far.
func (r *Reaper) Orphans() uint64 { return r.orphans.Load() }

// Reaped is the total number of children reaped so far.
func (r *Reaper) Reaped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reaped
}

func (r *Reaper) loop(started chan struct{}) {
	runtime.LockOSThread()
	defer close(r.done)
	close(started)
	for {
		r.reapAll()
		select {
		case <-r.sigc:
		case <-r.kick:
		case <-r.stop:
			return
		}
	}
}

// Kick asks for a reap pass now (harmless; SIGCHLD normally does this).
func (r *Reaper) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// reapAll reaps until wait4 reports nothing left, dispatching in batches.
func (r *Reaper) reapAll() {
	r.mu.Lock()
	r.busy = true
	r.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "reaper: panic: %v\n", p)
		}
		r.mu.Lock()
		r.busy = false
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}()
	var batch []Status
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited yet
			break
		}
		batch = append(batch, Status{Pid: pid, WaitStatus: ws})
		if r.beforeDispatch != nil {
			r.beforeDispatch()
		}
		if len(batch) >= 256 {
			r.dispatch(batch)
			batch = batch[:0]
		}
	}
	r.dispatch(batch)
}

func (r *Reaper) dispatch(batch []Status) {
	if len(batch) == 0 {
		return
	}
	var orphans []Status
	r.mu.Lock()
	now := r.now()
	for _, st := range batch {
		r.reaped++
		if ws, ok := r.waiters[st.Pid]; ok {
			delete(r.waiters, st.Pid)
			for _, c := range ws {
				c <- st // buffered, one send per channel
			}
			continue
		}
		orphans = append(orphans, st)
		r.keepLocked(st, now)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	if len(orphans) > 0 {
		r.orphans.Add(uint64(len(orphans)))
		if f := r.onOrphan.Load(); f != nil && *f != nil {
			for _, st := range orphans {
				(*f)(st)
			}
		}
	}
}

// keepLocked stores an exit nobody asked for, within the count and time bounds.
func (r *Reaper) keepLocked(st Status, now time.Time) {
	r.unclaimed[st.Pid] = unclaimed{st: st, at: now}
	r.order = append(r.order, st.Pid)
	for len(r.order) > 0 {
		pid := r.order[0]
		u, ok := r.unclaimed[pid]
		switch {
		case !ok:
			r.order = r.order[1:] // claimed or replaced already
			continue
		case len(r.unclaimed) > r.UnclaimedMax, r.UnclaimedTTL > 0 && now.Sub(u.at) > r.UnclaimedTTL:
			delete(r.unclaimed, pid)
			r.order = r.order[1:]
			continue
		}
		break
	}
	if cap(r.order) > 4*r.UnclaimedMax+64 { // compact the backing array now and then
		r.order = append([]int(nil), r.order...)
	}
}

// Wait returns a channel that receives pid's exit status once. It works whether the exit is
// reaped after the call or was reaped (within the unclaimed bounds) before it.
func (r *Reaper) Wait(pid int) <-chan Status {
	c := make(chan Status, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		c <- u.st
		return c
	}
	r.waiters[pid] = append(r.waiters[pid], c)
	return c
}

// registerLocked registers a freshly forked pid: any stale exit kept for a previous process
// with the same pid is dropped.
func (r *Reaper) registerLocked(pid int) <-chan Status {
	delete(r.unclaimed, pid)
	c := make(chan Status, 1)
	r.waiters[pid] = append(r.waiters[pid], c)
	return c
}

// StartWith runs fork (which must create exactly one child and return its pid, e.g. with
// syscall.ForkExec or os.StartProcess followed by Release) while holding the table lock, and
// registers the pid before the reaper can dispatch its exit. fork must not call back into r.
func (r *Reaper) StartWith(fork func() (int, error)) (int, <-chan Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	return pid, r.registerLocked(pid), nil
}

// Start forks and execs argv0 with argv and attr (syscall.ForkExec) and registers the pid.
func (r *Reaper) Start(argv0 string, argv []string, attr *syscall.ProcAttr) (int, <-chan Status, error) {
	pid, c, err := r.StartWith(func() (int, error) { return syscall.ForkExec(argv0, argv, attr) })
	if err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", argv0, err)
	}
	return pid, c, nil
}

// Live is the number of registered children (Start, StartWith, Wait) not yet reaped.
// Orphans are not counted until reaped; use WaitAll to wait for every child.
func (r *Reaper) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiters)
}

// HasChildren reports whether the process has any child left, running or zombie, without
// reaping it.
func HasChildren() bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return !errors.Is(err, unix.ECHILD)
	}
}

// WaitAll returns once the process has no child left at all (every one reaped and its exit
// dispatched: waiters told, orphans counted), or with ctx's error.
func (r *Reaper) WaitAll(ctx context.Context) error {
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if !HasChildren() {
			// The kernel has none left, but a pass may have taken the last exits and not
			// dispatched them yet: it set busy before its first wait4, so busy read now
			// (after HasChildren) covers every exit reaped before that check.
			r.mu.Lock()
			busy := r.busy
			r.mu.Unlock()
			if !busy {
				return nil
			}
		} else {
			r.Kick() // a zombie left by a coalesced SIGCHLD is reaped now, not later
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for all children: %w", ctx.Err())
		}
	}
}
