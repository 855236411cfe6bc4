package stage1

import (
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/bootplan/bootplan/internal/inputdev"
	"golang.org/x/sys/unix"
)

// handOverPowerButton names the open power button descriptors for stage two and clears their
// close-on-exec flag (else the exec would close them); a descriptor that is no longer open is
// left out.
func TestHandOverPowerButton(t *testing.T) {
	r, w, err := os.Pipe() // stands for the event device: open, close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(r.Fd())
	saved := powerButtonFDs
	t.Cleanup(func() { powerButtonFDs = saved })

	powerButtonFDs = nil
	if got := handOverPowerButton([]string{"A=1"}); !reflect.DeepEqual(got, []string{"A=1"}) {
		t.Errorf("no device: env %q, want it unchanged", got)
	}

	powerButtonFDs = []int{fd, 1000} // 1000: not open
	got := handOverPowerButton([]string{"A=1"})
	want := []string{"A=1", inputdev.FDsEnv + "=" + strconv.Itoa(fd)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("descriptor flags %#x, %v: close-on-exec still set", flags, err)
	}
	if fds, err := inputdev.ParseFDs(got[1][len(inputdev.FDsEnv)+1:]); err != nil || !reflect.DeepEqual(fds, []int{fd}) {
		t.Errorf("stage two parses %v, %v", fds, err)
	}
}
