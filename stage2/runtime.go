package stage2

import (
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
}
