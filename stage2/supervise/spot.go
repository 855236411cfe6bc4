package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/imds"
)

// SpotPath is the IMDS path of the spot interruption notice (404 until one is issued).
const SpotPath = "meta-data/spot/instance-action"

// SpotNotice is the body of a spot interruption notice.
type SpotNotice struct {
	Action string `json:"action"` // terminate, stop or hibernate
	Time   string `json:"time"`   // RFC 3339, when it happens
}

// ParseSpotNotice parses the notice; both fields are required.
func ParseSpotNotice(b []byte) (SpotNotice, error) {
	var n SpotNotice
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fmt.Errorf("invalid spot notice %q: %w", truncate(b), err)
	}
	if n.Action == "" || n.Time == "" {
		return n, fmt.Errorf("invalid spot notice %q: action and time are required", truncate(b))
	}
	return n, nil
}

// watchSpot polls the notice every interval until one arrives or the shutdown begins.
func (s *Supervisor) watchSpot(every time.Duration) {
	ctx, cancel := s.ctxUntilStop()
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// One poll never outlives the next tick by much.
		pctx, pcancel := context.WithTimeout(ctx, max(every, 2*time.Second))
		b, err := s.cfg.IMDS.Get(pctx, SpotPath)
		pcancel()
		switch {
		case errors.Is(err, imds.ErrNotFound):
			continue
		case ctx.Err() != nil:
			return
		case err != nil:
			if !warned { // once: an unreachable IMDS must not flood the console
				console.Warnf("failed to check spot interruption notice: %v", err)
				warned = true
			}
			continue
		}
		n, err := ParseSpotNotice(b)
		if err != nil {
			console.Warnf("spot monitor: %v", err)
			continue
		}
		console.Infof("spot interruption notice: action=%s time=%s", n.Action, n.Time)
		s.Trigger(fmt.Sprintf("spot interruption notice (action=%s)", n.Action))
		return
	}
}
