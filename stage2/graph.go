package stage2

import "github.com/bootplan/bootplan/internal/graph"

// Step is one named unit of stage two with the names of the steps it must follow
// (internal/graph runs them).
type Step = graph.Step
