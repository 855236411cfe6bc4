package mountopt

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		flags   uintptr
		data    string
		ignored []string
		err     string
	}{
		{name: "none"},
		{name: "defaults", in: []string{"defaults"}},
		{name: "noatime", in: []string{"noatime"}, flags: unix.MS_NOATIME},
		{name: "several entries", in: []string{"ro", "nosuid", "nodev", "noexec"}, flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{name: "comma list", in: []string{"ro,nodiratime, sync"}, flags: unix.MS_RDONLY | unix.MS_NODIRATIME | unix.MS_SYNCHRONOUS},
		{name: "later wins", in: []string{"ro", "rw", "noexec,exec"}},
		{name: "relatime replaces noatime", in: []string{"noatime", "relatime"}, flags: unix.MS_RELATIME},
		{name: "dirsync lazytime", in: []string{"dirsync", "lazytime"}, flags: unix.MS_DIRSYNC | unix.MS_LAZYTIME},
		{name: "bind refused", in: []string{"bind"}, err: `mount option "bind" is not supported: a bind mount remounts a directory`},
		{name: "rbind refused", in: []string{"noatime,rbind"}, err: `mount option "rbind" is not supported: a bind mount`},
		{name: "data kept in order", in: []string{"noatime", "commit=60", "data=ordered,discard"}, flags: unix.MS_NOATIME, data: "commit=60,data=ordered,discard"},
		{name: "xfs options", in: []string{"inode64,logbsize=256k", "nouuid"}, data: "inode64,logbsize=256k,nouuid"},
		{name: "fstab-only options ignored", in: []string{"nofail,noauto", "x-systemd.automount", "_netdev", "discard"}, data: "discard", ignored: []string{"nofail", "noauto", "x-systemd.automount", "_netdev"}},
		{name: "empty items", in: []string{"", ",,noatime,"}, flags: unix.MS_NOATIME},
		{name: "nosymfollow", in: []string{"nosymfollow"}, flags: unix.MS_NOSYMFOLLOW},
		{name: "remount refused", in: []string{"remount"}, err: `mount option "remount" is not supported`},
		{name: "propagation refused", in: []string{"noatime", "shared"}, err: `mount option "shared" is not supported: mount propagation`},
		{name: "user refused", in: []string{"user"}, err: `"user" is not supported`},
		{name: "control char refused", in: []string{"a\nb"}, err: "control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse(%q) error = %v, want %q", c.in, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Options{Flags: c.flags, Data: c.data, Ignored: c.ignored}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", c.in, got, want)
			}
		})
	}
}

func TestFlagNames(t *testing.T) {
	got := FlagNames(unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_BIND)
	want := []string{"bind", "noatime", "ro"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FlagNames = %v, want %v", got, want)
	}
	if got := FlagNames(unix.MS_BIND | unix.MS_REC); !reflect.DeepEqual(got, []string{"rbind"}) {
		t.Fatalf("FlagNames(rbind) = %v", got)
	}
}
