package reaper

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		ws   unix.WaitStatus
		want string
		code int
	}{
		{0, "exited 0", 0},
		{3 << 8, "exited 3", 3},
		{255 << 8, "exited 255", 255},
		{unix.WaitStatus(syscall.SIGKILL), "killed by SIGKILL (137)", 137},
		{unix.WaitStatus(syscall.SIGTERM), "killed by SIGTERM (143)", 143},
		{unix.WaitStatus(syscall.SIGSEGV) | 0x80, "killed by SIGSEGV (139, core dumped)", 139},
	} {
		st := Status{Pid: 7, WaitStatus: tc.ws}
		if got := st.String(); got != tc.want {
			t.Errorf("%#x: String() = %q, want %q", uint32(tc.ws), got, tc.want)
		}
		if got := st.ExitCode(); got != tc.code {
			t.Errorf("%#x: ExitCode() = %d, want %d", uint32(tc.ws), got, tc.code)
		}
	}
}

func TestKeepBounds(t *testing.T) {
	r := &Reaper{waiters: map[int][]chan Status{}, unclaimed: map[int]unclaimed{}, changed: make(chan struct{}),
		UnclaimedMax: 3, UnclaimedTTL: time.Minute, now: time.Now}
	t0 := time.Unix(1000, 0)
	for pid := 1; pid <= 5; pid++ {
		r.keepLocked(Status{Pid: pid}, t0)
	}
	if len(r.unclaimed) != 3 {
		t.Fatalf("kept %d, want 3", len(r.unclaimed))
	}
	if _, ok := r.unclaimed[1]; ok {
		t.Fatalf("oldest not evicted")
	}
	r.keepLocked(Status{Pid: 9}, t0.Add(2*time.Minute))
	if len(r.unclaimed) != 1 {
		t.Fatalf("expired not evicted: %v", r.unclaimed)
	}
}

func sh(t *testing.T, r *Reaper, script string) (int, <-chan Status) {
	t.Helper()
	pid, c, err := r.Start("/bin/sh", []string{"sh", "-c", script},
		&syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	return pid, c
}

func recv(t *testing.T, c <-chan Status) Status {
	t.Helper()
	select {
	case st := <-c:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for exit")
		return Status{}
	}
}

func TestStartWait(t *testing.T) {
	r := New()
	defer r.Stop()
	_, c := sh(t, r, "exit 3")
	if st := recv(t, c); st.String() != "exited 3" {
		t.Fatalf("got %v", st)
	}
	_, c = sh(t, r, "kill -9 $$")
	if st := recv(t, c); st.String() != "killed by SIGKILL (137)" {
		t.Fatalf("got %v", st)
	}
	// Reaped before Wait was called: kept as unclaimed.
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, r.Wait(pid)); st.Pid != pid || st.String() != "exited 0" {
		t.Fatalf("got %v", st)
	}
	if r.Orphans() != 1 {
		t.Fatalf("orphans = %d, want 1", r.Orphans())
	}
	if r.Live() != 0 {
		t.Fatalf("live = %d", r.Live())
	}
}
