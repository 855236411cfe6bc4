package graph

import (
	"errors"

	"github.com/bootplan/bootplan/internal/console"
)

// WithConsole returns o with the Started and Done hooks that print the step lines both
// stages show (the step names match the boot report):
//
//	info: step network: started
//	info: step network: done in 71ms
//	info: step volume-2: skipped in 3ms: optional volume at /cfg failed
//	error: step user-data: failed after 1.204s: ...
//	warning: step init-scripts: abandoned after 12.3s: still running 10s after the shutdown request; abandoned
func (o Options) WithConsole() Options {
	o.Started = func(name string) { console.Infof("step %s: started", name) }
	o.Done = func(r Result) {
		d := console.Duration(r.Duration)
		switch r.Status {
		case StatusOK:
			console.Infof("step %s: done in %s", r.Name, d)
		case StatusSkipped:
			if r.Err != nil {
				console.Infof("step %s: skipped in %s: %s", r.Name, d, SkipReason(r.Err))
			} else {
				console.Infof("step %s: skipped in %s", r.Name, d)
			}
		case StatusAbandoned:
			console.Warnf("step %s: abandoned after %s: %v", r.Name, d, r.Err)
		default:
			var pe *PanicError
			if errors.As(r.Err, &pe) {
				console.Debugf("panic in step %s: %v\n%s", r.Name, pe.Value, pe.Stack)
			}
			console.Errorf("step %s: failed after %s: %v", r.Name, d, r.Err)
		}
	}
	return o
}
