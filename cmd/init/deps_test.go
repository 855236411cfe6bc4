package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Stage one must stay small and start fast: no AWS SDK, ever.
func TestNoAWSSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/aws/") {
			t.Errorf("stage one imports %s (directly or through a dependency)", p)
		}
	}
}
