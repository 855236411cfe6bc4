package ociimage

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkCode proves no registry or daemon can be contacted: the package does not
// even link an HTTP client, TLS, registry credential helpers or go-containerregistry's
// remote/daemon code. (The package "net" itself comes with pkg/name's host parsing.)
func TestNoNetworkCode(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("go tool not found; needed to list the package's dependencies")
		}
		t.Skip("SKIPPED LOUDLY: go tool not found, cannot list dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/bootplan/bootplan/internal/ociimage").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list printed %d packages, expected the full list:\n%s", len(deps), out)
	}
	forbidden := []string{
		"net/http",
		"crypto/tls",
		"os/exec",
		"github.com/google/go-containerregistry/pkg/v1/remote",
		"github.com/google/go-containerregistry/pkg/v1/daemon",
		"github.com/google/go-containerregistry/pkg/authn",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("internal/ociimage links %s: it must never reach a registry or daemon", d)
			}
		}
	}
}
