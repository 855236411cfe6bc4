package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/internal/reaper"
	"github.com/bootplan/bootplan/plan"
	"github.com/bootplan/bootplan/stage2"
	"golang.org/x/sys/unix"
)

// Well-known service locations (the easyto AMI layout).
const (
	chronyUser      = "cb-chrony"
	chronyRunDir    = "/.easyto/run/chrony"
	homeRoot        = "/.easyto/home"
	sshKeyPath      = "meta-data/public-keys/0/openssh-key"
	sshHostKeyDir   = "/.easyto/etc/ssh"
	passwdPath      = "/etc/passwd"
	groupPath       = "/etc/group"
	defaultChronyd  = "/.easyto/sbin/chronyd"
	defaultSshd     = "/.easyto/sbin/sshd"
	defaultSshdConf = "/.easyto/etc/ssh/sshd_config"
)

// ssh-keygen and its bound (variables for tests). A keygen that overruns it is killed.
var (
	sshKeygen     = "/.easyto/bin/ssh-keygen"
	keygenTimeout = 2 * time.Minute
)

// killWait bounds the wait for a killed helper process (ssh-keygen) to be reaped: one in
// uninterruptible sleep is left to the shutdown's SIGKILL.
const killWait = 2 * time.Second

// errSkip means the service is not started, and that is not a failure.
var errSkip = errors.New("service skipped")

// Backoff is the restart delay of a service: Base after the first exit, doubling up to Cap,
// back to Base when the service had run for at least Reset.
type Backoff struct {
	Base, Cap, Reset time.Duration
	cur              time.Duration
}

// Next returns the delay before restarting a service that ran for uptime.
func (b *Backoff) Next(uptime time.Duration) time.Duration {
	if b.cur == 0 || uptime >= b.Reset {
		b.cur = b.Base
	} else {
		b.cur = min(2*b.cur, b.Cap)
	}
	return b.cur
}

type service struct {
	name     string
	cmd      stage2.Cmd
	optional bool

	mu  sync.Mutex
	pid int
}

func (sv *service) current() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.pid
}

func (sv *service) set(pid int) {
	sv.mu.Lock()
	sv.pid = pid
	sv.mu.Unlock()
}

// startServices initialises and starts the plan's enabled services. A required service that
// fails to initialise or start is returned as an error; optional ones are logged. Once ctx
// ends (a shutdown request) no service is initialised or started any more and the IMDS
// request or ssh-keygen under way is abandoned at once.
func (s *Supervisor) startServices(ctx context.Context) error {
	if s.cfg.Plan == nil {
		return nil
	}
	for _, ps := range s.cfg.Plan.Services {
		if ctx.Err() != nil {
			return nil // the caller shuts down
		}
		if !ps.Enabled {
			if ps.Reason != "" {
				console.Infof("service %s not started: %s", ps.Name, ps.Reason)
			}
			continue
		}
		argv, err := s.initService(ctx, ps)
		if errors.Is(err, errSkip) || ctx.Err() != nil {
			continue
		}
		if err == nil && len(argv) == 0 {
			err = errors.New("no command")
		}
		if err != nil {
			if ps.Optional {
				console.Infof("optional service %s failed to start: %v", ps.Name, err)
				continue
			}
			return fmt.Errorf("service %s: %w", ps.Name, err)
		}
		sv := &service{name: ps.Name, optional: ps.Optional, cmd: stage2.Cmd{
			Path: argv[0], Args: argv, Env: os.Environ(), Dir: "/", Setsid: true}}
		s.mu.Lock()
		pid, exited, err := stage2.StartReaped(s.cfg.Reaper, sv.cmd)
		if err == nil {
			sv.pid = pid
			s.services = append(s.services, sv)
		}
		s.mu.Unlock()
		if err != nil {
			if ps.Optional {
				console.Infof("optional service %s failed to start: %v", ps.Name, err)
				continue
			}
			return fmt.Errorf("service %s: %w", ps.Name, err)
		}
		console.Infof("service %s started with pid %d", ps.Name, pid)
		s.goSafe("service "+ps.Name, func() { s.keepRunning(sv, exited, time.Now()) })
	}
	return nil
}

// keepRunning restarts a service each time it exits, with backoff, until the shutdown.
func (s *Supervisor) keepRunning(sv *service, exited <-chan reaper.Status, started time.Time) {
	b := Backoff{Base: s.cfg.RestartBase, Cap: s.cfg.RestartCap, Reset: s.cfg.RestartReset}
	for {
		var why string
		if exited != nil {
			select {
			case st := <-exited:
				if s.isStopping() { // stopped by the shutdown, not crashed
					console.Infof("service %s stopped: %s", sv.name, st)
					return
				}
				why = "exited: " + st.String()
			case <-s.stopc:
				s.reportExit("service "+sv.name+" stopped", exited)
				return
			}
		} else {
			why = "failed to start"
		}
		sv.set(0)
		d := b.Next(time.Since(started))
		console.Warnf("service %s %s; restarting in %v", sv.name, why, d)
		select {
		case <-time.After(d):
		case <-s.stopc:
			return
		}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		pid, c, err := stage2.StartReaped(s.cfg.Reaper, sv.cmd)
		if err == nil {
			sv.set(pid)
		}
		s.mu.Unlock()
		started, exited = time.Now(), c
		if err != nil {
			console.Warnf("service %s: %v", sv.name, err)
			exited = nil
			continue
		}
		console.Infof("service %s restarted with pid %d", sv.name, pid)
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// initService prepares a known service and returns its command.
func (s *Supervisor) initService(ctx context.Context, ps plan.Service) ([]string, error) {
	switch ps.Name {
	case "chrony":
		argv := ps.Argv
		if len(argv) == 0 {
			argv = []string{defaultChronyd, "-d"}
		}
		return argv, s.initChrony()
	case "ssh":
		argv := ps.Argv
		if len(argv) == 0 {
			argv = []string{defaultSshd, "-D", "-f", defaultSshdConf, "-e"}
		}
		return argv, s.initSSH(ctx)
	default:
		if len(ps.Argv) == 0 {
			console.Warnf("unknown service %s", ps.Name)
			return nil, errSkip
		}
		return ps.Argv, nil
	}
}

func (s *Supervisor) initChrony() error {
	console.Infof("initializing chrony")
	h := s.cfg.Host
	pw, err := h.ReadFile(passwdPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", passwdPath, err)
	}
	u, err := plan.LookupPasswd(pw, chronyUser)
	if err != nil {
		return err
	}
	gid := u.GID // the passwd primary group, unless /etc/group has a cb-chrony group
	if gr, err := h.ReadFile(groupPath); err == nil {
		if g, ok := plan.LookupGroup(gr, chronyUser); ok {
			gid = g
		}
	}
	if _, err := h.MkdirAll(chronyRunDir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", chronyRunDir, err)
	}
	// Only the chrony directory itself: never /.easyto or /.easyto/run.
	if err := h.Chown(chronyRunDir, int(u.UID), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", chronyRunDir, err)
	}
	if err := h.Chmod(chronyRunDir, 0o750); err != nil {
		return fmt.Errorf("chmod %s: %w", chronyRunDir, err)
	}
	return nil
}

func (s *Supervisor) initSSH(ctx context.Context) error {
	if s.cfg.IMDS == nil {
		console.Infof("disabling service ssh: no instance metadata client")
		return errSkip
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	key, err := s.cfg.IMDS.Get(kctx, sshKeyPath)
	if ctx.Err() != nil {
		return errSkip // shutdown requested meanwhile
	}
	if errors.Is(err, imds.ErrNotFound) {
		console.Infof("disabling service ssh as no public key was assigned")
		return errSkip
	}
	if err != nil {
		console.Warnf("failed to discover services: fetching the ssh public key: %v", err)
		return errSkip
	}
	console.Infof("initializing sshd")
	h := s.cfg.Host
	ents, err := h.ReadDir(homeRoot)
	if err != nil {
		return fmt.Errorf("finding the login user: %w", err)
	}
	login := ""
	for _, e := range ents {
		if e.IsDir() {
			login = e.Name()
			break
		}
	}
	if login == "" {
		return fmt.Errorf("finding the login user: no directory in %s", homeRoot)
	}
	pw, err := h.ReadFile(passwdPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", passwdPath, err)
	}
	u, err := plan.LookupPasswd(pw, login)
	if err != nil {
		return err
	}
	sshDir := path.Join(u.Home, ".ssh")
	created, err := h.MkdirAll(sshDir, 0o700)
	if err != nil {
		return fmt.Errorf("creating %s: %w", sshDir, err)
	}
	for _, d := range created { // only what we made
		if err := h.Chown(d, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", d, err)
		}
	}
	ak := path.Join(sshDir, "authorized_keys")
	if len(key) > 0 && key[len(key)-1] != '\n' {
		key = append(key, '\n')
	}
	if err := h.WriteFileAtomic(ak, key, 0o600, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("writing %s: %w", ak, err)
	}
	console.Infof("wrote SSH authorized_keys to %s", ak)
	for _, t := range []string{"rsa", "ed25519"} {
		kp := path.Join(sshHostKeyDir, "ssh_host_"+t+"_key")
		if _, err := h.Stat(kp); err == nil {
			continue
		}
		if ctx.Err() != nil {
			return errSkip
		}
		if err := s.runKeygen(ctx, t, kp); err != nil {
			console.Warnf("generating ssh host key %s: %v", kp, err)
		}
	}
	return nil
}

// runKeygen runs ssh-keygen for one host key. It is killed when it overruns keygenTimeout or
// when ctx ends (a shutdown request): neither may leave it running nor hold up the boot.
func (s *Supervisor) runKeygen(ctx context.Context, typ, file string) error {
	pid, c, err := stage2.StartReaped(s.cfg.Reaper, stage2.Cmd{Path: sshKeygen,
		Args: []string{sshKeygen, "-q", "-t", typ, "-f", file, "-N", ""}, Env: os.Environ(), Dir: "/"})
	if err != nil {
		return err
	}
	timeout := time.NewTimer(keygenTimeout)
	defer timeout.Stop()
	var why error
	select {
	case st := <-c:
		if st.ExitCode() != 0 {
			return fmt.Errorf("ssh-keygen %s", st)
		}
		return nil
	case <-timeout.C:
		why = fmt.Errorf("ssh-keygen did not finish in %v; killed", keygenTimeout)
	case <-ctx.Done():
		why = errors.New("ssh-keygen stopped: shutdown requested")
	}
	_ = unix.Kill(pid, unix.SIGKILL)
	wait := time.NewTimer(killWait)
	defer wait.Stop()
	select {
	case <-c:
	case <-wait.C:
	}
	return why
}
