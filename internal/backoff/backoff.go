// Package backoff is the one retry delay of both stages: full jitter (AWS's recommendation),
// and a sleep that ends early when the context does.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// FullJitter is r·min(max, base·2^attempt), with r in [0,1) (pure, for tests).
func FullJitter(base, max time.Duration, attempt int, r float64) time.Duration {
	d := max
	if attempt < 30 {
		if e := base << attempt; e < max && e > 0 {
			d = e
		}
	}
	return time.Duration(r * float64(d))
}

// Delay is FullJitter with a random r.
func Delay(base, max time.Duration, attempt int) time.Duration {
	return FullJitter(base, max, attempt, rand.Float64())
}

// Sleep waits d, or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
