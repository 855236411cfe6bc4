package stage2

import (
	"fmt"
	"sync"
	"testing"
)

// Volume steps run in parallel and often share a parent directory (/etc/app/a, /etc/app/b):
// MkdirAll must tolerate another step creating the same directory between its check and its
// mkdir, as os.MkdirAll does. Before the fix this failed about half the time with
// "mkdir /etc/app: file exists".
func TestSandboxMkdirAllConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		h, err := NewSandboxHost(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				_, errs[i] = h.MkdirAll(fmt.Sprintf("/etc/app/deep/v%d", i), 0o755)
			}(i)
		}
		close(start)
		wg.Wait()
		h.Close()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: MkdirAll v%d: %v", round, i, err)
			}
		}
		// Each shared directory is reported created by exactly one caller.
		mk := 0
		for _, e := range h.Journal() {
			if e.Op == "mkdir" {
				mk++
			}
		}
		if want := 3 + n; mk != want { // etc, etc/app, etc/app/deep, and each v<i>
			t.Fatalf("round %d: %d mkdir journal entries, want %d: %v", round, mk, want, h.Journal())
		}
	}
}
