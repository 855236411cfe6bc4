package stage2

import (
	"time"

	"github.com/bootplan/bootplan/internal/bootsteps"
	"github.com/bootplan/bootplan/internal/imds"
	"github.com/bootplan/bootplan/plan"
)

// Runtime is what every step of stage two works with: the plan, the machine (through Host),
// the shared IMDS client and the lazily created AWS clients.
type Runtime struct {
	Plan *plan.Plan
	Host Host
	IMDS *imds.Client
	AWS  *AWS // lazily created clients (aws.go)

	// Env is the command's final environment (NAME=VALUE), set by the env steps.
	Env []plan.EnvVar

	cmd Cmd // the ready command, set by the command step

	// Stage1 is stage one's part of the boot (nil: the report shows stage two only), and
	// MainAt is CLOCK_BOOTTIME when stage two's main began: Execute merges both into the
	// boot report.
	Stage1 *bootsteps.Stage1
	MainAt time.Duration
}
