package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0.5, 50 * time.Millisecond},
		{1, 0.5, 100 * time.Millisecond},
		{10, 0.5, time.Second},
		{63, 0.99, 1980 * time.Millisecond},
		{2, 0, 0},
	} {
		if got := FullJitter(100*time.Millisecond, 2*time.Second, tc.attempt, tc.r); got != tc.want {
			t.Errorf("FullJitter(attempt %d, r %v) = %s, want %s", tc.attempt, tc.r, got, tc.want)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Minute); err == nil {
		t.Fatal("Sleep on a cancelled context returned nil")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not end with its context")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
