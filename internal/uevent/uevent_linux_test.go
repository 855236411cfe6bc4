//go:build linux

package uevent

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOpen subscribes for real and returns on cancellation (no event is needed).
func TestOpen(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Skipf("SKIP: no uevent socket here: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	for {
		_, err := c.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Next took %s to notice cancellation", d)
	}
}
