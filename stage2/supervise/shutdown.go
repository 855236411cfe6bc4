package supervise

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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
	console.Errorf("boot failed in %s, step %s: %v; stopping everything", f.Stage, f.Step, f.Err)
	s.terminate()
	s.finish()
	s.cfg.Fail(f)
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

// signalAll sends sig to the main process group, then the services, then (when allowed)
// every other user process. It returns how many processes or groups were signalled.
func (s *Supervisor) signalAll(sig syscall.Signal) int {
	n := 0
	kill := func(pid int) {
		if err := unix.Kill(pid, sig); err == nil {
			n++
		}
	}
	mainPid, svc := s.groups()
	if mainPid > 0 {
		kill(-mainPid)
		kill(mainPid) // in case it left its group
	}
	for _, pid := range svc {
		kill(-pid)
		kill(pid)
	}
	if *s.cfg.KillOthers {
		procs, err := userProcesses(s.cfg.ProcRoot, s.self)
		if err != nil {
			console.Warnf("shutdown: %v", err)
		}
		for _, p := range procs {
			if p.State == 'Z' {
				continue
			}
			kill(p.Pid)
		}
	}
	return n
}

// terminate: SIGTERM, grace period, SIGKILL, reap all.
func (s *Supervisor) terminate() {
	s.beginStop()
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
			console.Warnf("grace period of %v expired, sending SIGKILL to all processes", s.grace)
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

// finish: sync, unmount the volumes in reverse order, read-only root, sync.
func (s *Supervisor) finish() {
	h := s.cfg.Host
	phase("sync", h.Sync)
	if s.cfg.Plan != nil {
		phase("unmount volumes", func() { unmountVolumes(h, s.cfg.Plan.Volumes, time.Sleep) })
	}
	phase("remount / read-only", func() {
		if err := h.RemountRootReadonly(); err != nil {
			console.Warnf("remounting / read-only: %v", err)
		}
		h.Sync()
	})
}

type unmounter interface {
	Unmount(target string, flags int) error
}

// mountPoints lists the mounted volumes (ebs with a destination) in reverse plan order.
func mountPoints(vols []plan.Volume) []string {
	var out []string
	for i := len(vols) - 1; i >= 0; i-- {
		if v := vols[i]; v.Kind == plan.KindEBS && v.Destination != "" {
			out = append(out, v.Destination)
		}
	}
	return out
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
