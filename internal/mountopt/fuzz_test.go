package mountopt

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParse: Parse never panics, and what it accepts cannot hand mount(2) a refused option,
// a control character in the data, or a bind/remount/move/propagation flag.
func FuzzParse(f *testing.F) {
	f.Add("noatime,commit=60\ndata=ordered,discard")
	f.Add("ro,nodev\nnofail,x-systemd.automount,comment=x")
	f.Add("bind")
	f.Add("rw,ro,,shared")
	f.Add(" defaults , nosymfollow,lazytime")
	f.Add("a\x00b")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		for _, d := range strings.Split(o.Data, ",") {
			if _, bad := refused[d]; bad {
				t.Fatalf("refused option %q passed in data %q", d, o.Data)
			}
			if strings.ContainsAny(d, "\x00\n") {
				t.Fatalf("control character in data %q", o.Data)
			}
		}
		const never = unix.MS_BIND | unix.MS_REMOUNT | unix.MS_MOVE | unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE
		if o.Flags&never != 0 {
			t.Fatalf("Parse(%q) flags %#x (%v)", s, o.Flags, FlagNames(o.Flags))
		}
	})
}
