package stage2

import (
	"errors"
	"syscall"
	"testing"

	"github.com/bootplan/bootplan/internal/graph"
)

// execFailHost is a sandbox whose Exec fails the way the real one does.
type execFailHost struct {
	*SandboxHost
	err error
}

func (h execFailHost) Exec(cmd Cmd) error { return h.err }

func TestReplaceInitFailureNamesStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"precheck", errors.New("/usr/bin/app: No such file or directory"), "step command: execve failed: /usr/bin/app: No such file or directory"},
		{"execve errno", &wrapped{syscall.ENOEXEC}, "step command: execve failed: /usr/bin/app: Exec format error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, h, _ := sandbox(t, nil)
			rt.Host = execFailHost{h, tc.err}
			err := ReplaceInit(rt, Cmd{Path: "/usr/bin/app"}, false)
			var se *graph.StepError
			if !errors.As(err, &se) || se.StepName() != "command" {
				t.Fatalf("error %v (%T) does not name step command", err, err)
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

type wrapped struct{ e syscall.Errno }

func (w *wrapped) Error() string { return "execve failed: /usr/bin/app: " + w.e.Error() }
func (w *wrapped) Unwrap() error { return w.e }
