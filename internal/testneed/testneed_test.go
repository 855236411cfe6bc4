package testneed

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The helper runs in a child test process so its skip or failure can be observed: missing
// skips by hand and fails when CI is set.
func TestMissingSkipsOrFailsUnderCI(t *testing.T) {
	if os.Getenv("TESTNEED_CHILD") != "" {
		Tool(t, "no-such-tool-bootplan", "nothing")
		t.Log("UNREACHED")
		return
	}
	for _, tc := range []struct {
		ci, want string
		fails    bool
	}{
		{"", "--- SKIP", false},
		{"true", "--- FAIL", true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingSkipsOrFailsUnderCI$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTNEED_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) ||
			!strings.Contains(string(out), "no-such-tool-bootplan is not installed (apt-get install nothing") ||
			strings.Contains(string(out), "UNREACHED") {
			t.Errorf("CI=%q: err %v, output:\n%s", tc.ci, err, out)
		}
	}
	if p := Tool(t, "sh", "dash"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("Tool(sh) = %q", p)
	}
}
