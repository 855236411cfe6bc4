package supervise

import (
	"testing"

	"github.com/bootplan/bootplan/stage2"
)

// The main process is named in the failure banner by its unexpanded argv[0]: a program path
// built from a secret ($(DIR)) is never shown expanded.
func TestMainNameNeverExpanded(t *testing.T) {
	for _, tc := range []struct {
		cmd  stage2.Cmd
		want string
	}{
		{stage2.Cmd{Path: "/opt/s3cr3t/app", Args: []string{"/opt/s3cr3t/app", "--pw=s3cr3t"}, ShownArgs: []string{"/opt/$(DIR)/app", "--pw=$(PW)"}}, "/opt/$(DIR)/app"},
		{stage2.Cmd{Path: "/bin/app", Args: []string{"/bin/app"}}, "/bin/app"},
		{stage2.Cmd{Args: []string{"/bin/sh"}}, "/bin/sh"},
		{stage2.Cmd{}, "(empty command)"},
	} {
		if got := mainName(tc.cmd); got != tc.want {
			t.Errorf("mainName(%+v) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
