package reaper

// Exact counts of one reap pass and of the unclaimed table. These run before the tests in
// reaper_test.go (file order) so that, with -failfast, a broken reap loop fails here at once
// instead of in a test that waits for an exit.

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// zombie reports whether pid is a zombie (exited, not yet reaped).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// More exits than one dispatch batch (256) in a single pass: each exit is counted, kept for
// a later Wait and reported to the orphan hook exactly once, and nothing is logged. The
// children are zombies before the pass starts, so one reapAll sees all of them.
func TestOnePassOverSeveralBatches(t *testing.T) {
	const n = 600
	pids := make([]int, n)
	for i := range pids {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		pids[i] = pid
	}
	for _, pid := range pids { // bounded: each child exits at once
		for i := 0; !zombie(pid); i++ {
			if i == 10000 {
				t.Fatalf("pid %d did not exit", pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
	r := &Reaper{waiters: map[int][]chan Status{}, unclaimed: map[int]unclaimed{}, changed: make(chan struct{}),
		UnclaimedMax: DefaultUnclaimedMax, UnclaimedTTL: DefaultUnclaimedTTL, now: time.Now}
	hooked := map[int]int{}
	var seen []uint64 // Reaped() as each hook call sees it
	r.OnOrphan(func(st Status) { hooked[st.Pid]++; seen = append(seen, r.Reaped()) })

	// Nothing is written to stderr unless the pass panics.
	stderr := os.Stderr
	logf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = logf
	r.reapAll()
	os.Stderr = stderr

	// Fatal, not Error: a wrong count must not go on to wait for exits that never come.
	if got := r.Reaped(); got != n {
		t.Fatalf("reaped %d, want %d", got, n)
	}
	if got := r.Orphans(); got != n {
		t.Fatalf("orphans %d, want %d", got, n)
	}
	if len(r.unclaimed) != n || len(hooked) != n {
		t.Fatalf("kept %d unclaimed exits, hook saw %d pids, want %d", len(r.unclaimed), len(hooked), n)
	}
	// Dispatched in batches of at most 256: the hooks of a batch run once it is recorded,
	// before the next batch is, so 600 exits make batches of 256, 256 and 88.
	for i, got := range seen {
		if want := uint64(min(n, (i/256+1)*256)); got != want {
			t.Fatalf("hook call %d saw %d exits reaped, want %d (batches of 256)", i, got, want)
		}
	}
	for _, pid := range pids {
		if hooked[pid] != 1 {
			t.Fatalf("hook called %d times for pid %d", hooked[pid], pid)
		}
		if st := recv(t, r.Wait(pid)); st.Pid != pid || st.String() != "exited 0" {
			t.Fatalf("Wait(%d) = %v", pid, st)
		}
	}
	if b, _ := os.ReadFile(logf.Name()); len(b) != 0 {
		t.Errorf("stderr: %q", b)
	}
}

// With no room for unclaimed exits (UnclaimedMax 0) an exit is dropped at once and the
// order list ends empty.
func TestKeepNothing(t *testing.T) {
	r := &Reaper{waiters: map[int][]chan Status{}, unclaimed: map[int]unclaimed{}, UnclaimedMax: 0, now: time.Now}
	r.keepLocked(Status{Pid: 1}, time.Unix(1000, 0))
	if len(r.unclaimed) != 0 || len(r.order) != 0 {
		t.Fatalf("kept %v, order %v; want nothing", r.unclaimed, r.order)
	}
}

// A long run of exits nobody claims keeps the newest UnclaimedMax, in order, and the order
// list's backing array stays bounded without being copied on every exit (it is compacted
// once it exceeds 4×UnclaimedMax+64 entries).
func TestKeepChurnIsBounded(t *testing.T) {
	r := &Reaper{waiters: map[int][]chan Status{}, unclaimed: map[int]unclaimed{}, UnclaimedMax: 3, UnclaimedTTL: time.Minute, now: time.Now}
	t0 := time.Unix(1000, 0)
	pid := 0
	keep := func() { pid++; r.keepLocked(Status{Pid: pid}, t0) }
	for range 10000 {
		keep()
	}
	if len(r.unclaimed) != 3 || len(r.order) != 3 || r.order[0] != 9998 || r.order[2] != 10000 {
		t.Fatalf("kept %d, order %v; want 9998 9999 10000", len(r.unclaimed), r.order)
	}
	if c := cap(r.order); c > 2*(4*3+64) {
		t.Fatalf("order capacity %d after 10000 exits", c)
	}
	if a := testing.AllocsPerRun(1000, keep); a > 0.5 {
		t.Fatalf("%.2f allocations per kept exit: the order list is copied too often", a)
	}
}

// A pass with a child still running reaps the one that exited and returns: "none exited yet"
// (wait4 returning 0) ends the pass and is not an exit of pid 0.
func TestPassWithARunningChild(t *testing.T) {
	running, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "60"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(running, syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(running, &ws, 0, nil)
	}()
	done, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; !zombie(done); i++ {
		if i == 10000 {
			t.Fatalf("pid %d did not exit", done)
		}
		time.Sleep(time.Millisecond)
	}
	r := &Reaper{waiters: map[int][]chan Status{}, unclaimed: map[int]unclaimed{}, changed: make(chan struct{}),
		UnclaimedMax: DefaultUnclaimedMax, UnclaimedTTL: DefaultUnclaimedTTL, now: time.Now}
	finished := make(chan struct{})
	go func() { r.reapAll(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the pass did not return while a child was still running")
	}
	if _, ok := r.unclaimed[done]; r.Reaped() != 1 || !ok || len(r.unclaimed) != 1 {
		t.Fatalf("reaped %d, kept %v; want only pid %d", r.Reaped(), r.unclaimed, done)
	}
}
