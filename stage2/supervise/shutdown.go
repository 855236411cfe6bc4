package supervise

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/plan"
	"golang.org/x/sys/unix"
)

// Unmount retries before falling back to a lazy unmount.
const (
	unmountTries = 5
	unmountPause = 200 * time.Millisecond
)

// Shutdown stops every process, syncs, unmounts the plan's volumes, remounts / read-only and
// powers off (or reboots). It returns only if the PowerOff hook returns (tests).
func (s *Supervisor) Shutdown(reason string) {
	start := time.Now()
	console.Infof("shutting down: %s", reason)
	s.terminate()
	s.finish()
	console.Infof("shutdown completed in %dms", time.Since(start).Milliseconds())
	if s.cfg.Reboot {
		console.Infof("rebooting")
	} else {
		console.Infof("powering off")
	}
	s.cfg.PowerOff(s.cfg.Reboot)
}

// FailAndPowerOff is the failure path once stage two has started anything: it terminates
// whatever runs, syncs and unmounts, then prints the failure banner as the last output and
// ends the machine (halt.Fail). It returns only if the Fail hook returns (tests).
func (s *Supervisor) FailAndPowerOff(f console.Failure) {
	console.Errorf("%s", failureLine(f))
	s.terminate()
	s.finish()
	s.cfg.Fail(f)
}

// failureLine is the console line that starts the failure path. It names the step once: the
// "step <name>: " prefix of a *graph.StepError's text is not repeated.
func failureLine(f console.Failure) string {
	msg := fmt.Sprint(f.Err)
	if rest, ok := strings.CutPrefix(msg, "step "+f.Step+": "); ok {
		msg = rest
	}
	return fmt.Sprintf("boot failed in %s, step %s: %s; stopping everything", f.Stage, f.Step, msg)
}

// phase runs one step of the shutdown, logs its duration and survives its panics.
func phase(name string, f func()) {
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				console.Errorf("shutdown: %s panicked: %v\n%s", name, p, debug.Stack())
			}
		}()
		f()
	}()
	console.Infof("shutdown: %s done in %dms", name, time.Since(start).Milliseconds())
}

func (s *Supervisor) beginStop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		close(s.stopc)
	})
}

// groups returns the process groups of the main process and the running services.
func (s *Supervisor) groups() (mainPid int, svc []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.services {
		if pid := sv.current(); pid > 0 {
			svc = append(svc, pid)
		}
	}
	return s.mainPid, svc
}

// signalAll sends sig once to the main process group, then to the services' groups, then
// (when allowed) to every other user process. A process is signalled once: a workload that
// traps SIGTERM must not run its handler two or three times. It returns how many processes
// or groups were signalled.
func (s *Supervisor) signalAll(sig syscall.Signal) int {
	n := 0
	kill := func(pid int) {
		if err := unix.Kill(pid, sig); err == nil {
			n++
		}
	}
	mainPid, svc := s.groups()
	groups := map[int]bool{}
	for _, pid := range append([]int{mainPid}, svc...) {
		if pid <= 0 {
			continue
		}
		groups[pid] = true
		kill(-pid)
		if pg, err := unix.Getpgid(pid); err == nil && pg != pid {
			kill(pid) // it left its group
		}
	}
	if *s.cfg.KillOthers {
		procs, err := userProcesses(s.cfg.ProcRoot, s.self)
		if err != nil {
			console.Warnf("shutdown: %v", err)
		}
		for _, p := range procs {
			if p.State == 'Z' || groups[p.PGrp] {
				continue // a zombie, or already signalled through its group
			}
			kill(p.Pid)
		}
	}
	return n
}

// remaining describes the processes still present, for the grace-expiry warning:
// "123 (sleep, S), 124 (sh, Z)". Empty when they cannot be listed.
func (s *Supervisor) remaining() string {
	procs, err := userProcesses(s.cfg.ProcRoot, s.self)
	if err != nil || len(procs) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range procs {
		if i == 8 {
			fmt.Fprintf(&b, ", ... (%d in all)", len(procs))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d (%s, %c)", p.Pid, p.Comm, p.State)
	}
	return b.String()
}

// reportWait bounds the wait for the exit reports of processes already reaped.
const reportWait = 500 * time.Millisecond

// flushReports lets the pending exit reports (reportExit) reach the console, for at most
// reportWait: every process has been reaped (or given up on) when it is called.
func (s *Supervisor) flushReports() {
	s.mu.Lock()
	pending := s.reports
	s.mu.Unlock()
	deadline := time.NewTimer(reportWait)
	defer deadline.Stop()
wait:
	for _, done := range pending {
		select {
		case <-done:
		case <-deadline.C:
			break wait
		}
	}
	s.reportsOnce.Do(func() { close(s.reportsDone) })
}

// terminate: SIGTERM, grace period, SIGKILL, reap all.
func (s *Supervisor) terminate() {
	s.beginStop()
	defer s.flushReports()
	r := s.cfg.Reaper
	phase("SIGTERM to all processes", func() { s.signalAll(unix.SIGTERM) })
	graceful := false
	phase(fmt.Sprintf("waiting up to %v for processes to exit", s.grace), func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		defer cancel()
		if err := r.WaitAll(ctx); err == nil {
			graceful = true
			console.Infof("all processes exited during the grace period")
		} else {
			left := ""
			if *s.cfg.KillOthers {
				if r := s.remaining(); r != "" {
					left = "; still running: " + r
				}
			}
			console.Warnf("grace period of %v expired, sending SIGKILL to all processes%s", s.grace, left)
		}
	})
	if graceful {
		return
	}
	phase("SIGKILL to all processes and reap", func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
		defer cancel()
		for {
			s.signalAll(unix.SIGKILL)
			step, c := context.WithTimeout(ctx, 100*time.Millisecond)
			err := r.WaitAll(step)
			c()
			if err == nil {
				console.Infof("all processes terminated")
				return
			}
			if ctx.Err() != nil {
				console.Warnf("processes still present after SIGKILL and %v (uninterruptible?); going on", s.cfg.StopTimeout)
				return
			}
		}
	})
}

// finish: sync, unmount the volumes in reverse order, read-only root, sync. Each phase is
// bounded by FinishTimeout; once a sync has hung, the later one is skipped (it would hang too).
func (s *Supervisor) finish() {
	h := s.cfg.Host
	synced := false
	phase("sync", func() { synced = s.bounded("sync", h.Sync) })
	if s.cfg.Plan != nil {
		phase("unmount volumes", func() {
			s.bounded("unmount volumes", func() { unmountVolumes(h, s.cfg.Plan.Volumes, time.Sleep) })
		})
	}
	phase("remount / read-only", func() {
		s.bounded("remount / read-only", func() {
			if err := h.RemountRootReadonly(); err != nil {
				console.Warnf("remounting / read-only: %v", err)
			}
			if synced {
				h.Sync()
			}
		})
	})
}

// bounded runs f in its own goroutine and waits for it at most FinishTimeout: a sync or umount
// on a dead disk or a frozen filesystem blocks in the kernel for ever, and the power-off must
// still come. It reports whether f finished; if not, f's goroutine is left behind.
func (s *Supervisor) bounded(name string, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				console.Errorf("shutdown: %s panicked: %v\n%s", name, p, debug.Stack())
			}
		}()
		f()
	}()
	t := time.NewTimer(s.cfg.FinishTimeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		console.Warnf("shutdown: %s did not finish in %v (a hung disk or filesystem?); going on", name, s.cfg.FinishTimeout)
		return false
	}
}

type unmounter interface {
	Unmount(target string, flags int) error
}

// mountPoints lists the mounted volumes (ebs with a destination) in reverse plan order, except
// that a mount point inside another one always comes before it: stage two mounts /data before
// /data/sub whatever their plan order, so /data/sub must be unmounted first (else /data is
// busy and only detached lazily, not cleanly unmounted before the power-off).
func mountPoints(vols []plan.Volume) []string {
	var out []string
	for i := len(vols) - 1; i >= 0; i-- {
		if v := vols[i]; v.Kind == plan.KindEBS && v.Destination != "" {
			out = append(out, path.Clean(v.Destination))
		}
	}
	// Deeper paths first; among equal depths the reverse plan order is kept. A mount point
	// inside another is always deeper than it.
	sort.SliceStable(out, func(a, b int) bool { return depth(out[a]) > depth(out[b]) })
	return out
}

// depth is the number of components of a clean absolute path ("/" is 0, "/a/b" is 2).
func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// unmountVolumes unmounts each volume, retrying a busy one, then lazily with a warning.
func unmountVolumes(h unmounter, vols []plan.Volume, sleep func(time.Duration)) {
	for _, dst := range mountPoints(vols) {
		var err error
		for try := 0; try < unmountTries; try++ {
			if try > 0 {
				sleep(unmountPause)
			}
			err = h.Unmount(dst, 0)
			if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				break // unmounted, or not mounted at all (optional volume)
			}
		}
		switch {
		case err == nil:
			console.Infof("unmounted %s", dst)
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			console.Debugf("%s was not mounted", dst)
		default:
			console.Warnf("unmounting %s: %v; detaching it lazily", dst, err)
			if err := h.Unmount(dst, unix.MNT_DETACH); err != nil {
				console.Warnf("lazy unmount of %s: %v", dst, err)
			}
		}
	}
}
