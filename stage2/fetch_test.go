package stage2

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A volume's objects are fetched and written 16 at a time, not one after another.
func TestFetchInOrderConcurrent(t *testing.T) {
	const n = 40
	var inflight, most atomic.Int32
	gate := make(chan struct{})
	var once sync.Once
	entries := make([]fileEntry, n)
	for k := range entries {
		entries[k] = fileEntry{label: fmt.Sprintf("e%d", k), fetch: func(ctx context.Context) ([]byte, error) {
			c := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); c > m && !most.CompareAndSwap(m, c); m = most.Load() {
			}
			if c == int32(cap(fetchSlots)) || k >= n-cap(fetchSlots) {
				once.Do(func() { close(gate) })
			}
			select { // bounded: a one-by-one fetcher never reaches 16 in flight
			case <-gate:
			case <-time.After(10 * time.Second):
				return nil, errors.New("never had 16 fetches in flight")
			}
			return []byte{byte(k)}, nil
		}}
	}
	var mu sync.Mutex
	written := map[int]bool{}
	err := fetchAll(context.Background(), entries, func(k int, data []byte) error {
		if int(data[0]) != k {
			t.Errorf("entry %d got entry %d's data", k, data[0])
		}
		mu.Lock()
		written[k] = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() != int32(cap(fetchSlots)) {
		t.Errorf("at most %d fetches in flight, want %d", most.Load(), cap(fetchSlots))
	}
	if len(written) != n {
		t.Fatalf("wrote %d of %d", len(written), n)
	}
}

// The first failure in entry order is the one reported, as when objects were fetched one
// by one, with every entry before it written and no entry started after it failed.
func TestFetchInOrderFirstError(t *testing.T) {
	entries := make([]fileEntry, 30)
	for k := range entries {
		entries[k] = fileEntry{label: fmt.Sprintf("s3://b/k%d", k), fetch: func(ctx context.Context) ([]byte, error) {
			if k == 5 || k == 20 {
				return nil, fmt.Errorf("boom %d", k)
			}
			return []byte("x"), nil
		}}
	}
	var mu sync.Mutex
	written := map[int]bool{}
	err := fetchAll(context.Background(), entries, func(k int, _ []byte) error {
		mu.Lock()
		written[k] = true
		mu.Unlock()
		return nil
	})
	if err == nil || err.Error() != "s3://b/k5: boom 5" {
		t.Fatalf("error %v, want s3://b/k5: boom 5", err)
	}
	for k := 0; k < 5; k++ {
		if !written[k] {
			t.Errorf("entry %d, before the failure, not written", k)
		}
	}
	if written[5] || written[20] {
		t.Errorf("a failed entry was written: %v", written)
	}
	// A write failure stops the volume the same way.
	err = fetchAll(context.Background(), entries[:4], func(k int, _ []byte) error {
		if k == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("write error %v", err)
	}
}

// A panic while fetching or writing one object (an SDK bug on a malformed answer, a host
// bug) is that entry's error, as it was when the step ran the fetch itself under the step
// runner's recover: a goroutine's panic would end PID 1.
func TestFetchPanicIsError(t *testing.T) {
	entries := []fileEntry{
		{label: "s3://b/ok", fetch: func(context.Context) ([]byte, error) { return []byte("x"), nil }},
		{label: "s3://b/bad", fetch: func(context.Context) ([]byte, error) { panic("nil answer") }},
	}
	err := fetchAll(context.Background(), entries, func(int, []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "s3://b/bad") || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("fetch panic: error %v, want one naming s3://b/bad and the panic", err)
	}
	err = fetchAll(context.Background(), entries[:1], func(int, []byte) error { panic("write bug") })
	if err == nil || !strings.Contains(err.Error(), "s3://b/ok") || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("write panic: error %v, want one naming s3://b/ok and the panic", err)
	}
}

// Big objects are fetched fewer at a time: the bytes held at once stay within the memory
// budget (three 10 MiB objects fit in 32 MiB, a fourth waits), while small ones still go 16
// at a time (TestFetchInOrderConcurrent).
func TestFetchMemoryBudget(t *testing.T) {
	const n = 8
	size := int64(maxObjectSize)
	fit := int32(fetchMemoryBudget / size) // 3
	var inflight, most atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	entries := make([]fileEntry, n)
	for k := range entries {
		entries[k] = fileEntry{label: fmt.Sprintf("e%d", k), size: size, fetch: func(ctx context.Context) ([]byte, error) {
			c := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); c > m && !most.CompareAndSwap(m, c); m = most.Load() {
			}
			if c == fit {
				// The budget is spent: nothing more may be charged until one finishes.
				if fetchMemory.TryAcquire(fetchMemoryBudget - int64(fit)*size + 1) {
					fetchMemory.Release(fetchMemoryBudget - int64(fit)*size + 1)
					t.Errorf("%d big fetches in flight but the budget is not spent", c)
				}
				once.Do(func() { close(release) })
			}
			select { // bounded
			case <-release:
			case <-time.After(10 * time.Second):
				return nil, errors.New("never had the budget's worth in flight")
			}
			return []byte{byte(k)}, nil
		}}
	}
	written := atomic.Int32{}
	if err := fetchAll(context.Background(), entries, func(int, []byte) error { written.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	if most.Load() != fit || written.Load() != n {
		t.Fatalf("at most %d big fetches in flight (want %d), %d written (want %d)", most.Load(), fit, written.Load(), n)
	}
	// Everything was given back.
	if !fetchMemory.TryAcquire(fetchMemoryBudget) {
		t.Fatal("the memory budget was not released")
	}
	fetchMemory.Release(fetchMemoryBudget)
}

func TestFetchCharge(t *testing.T) {
	for _, tc := range []struct{ size, want int64 }{{0, fetchMinCharge}, {1, fetchMinCharge}, {1 << 20, 1 << 20}, {maxObjectSize, maxObjectSize}, {1 << 40, maxObjectSize}} {
		if got := fetchCharge(tc.size); got != tc.want {
			t.Errorf("fetchCharge(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}
