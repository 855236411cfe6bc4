// Package mountopt turns mount options as people write them in fstab and user data
// ("noatime", "ro,nodev", "commit=60") into the flags and data string of mount(2).
package mountopt

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Options is the parsed form of a list of mount options.
type Options struct {
	Flags   uintptr  // MS_* flags
	Data    string   // the filesystem-specific rest, comma-joined in the order given
	Ignored []string // mount(8)-only options that mean nothing to the kernel (nofail, noauto, x-*, ...)
}

type flagOp struct {
	set, clear uintptr
}

var flags = map[string]flagOp{
	"defaults":    {},
	"ro":          {set: unix.MS_RDONLY},
	"rw":          {clear: unix.MS_RDONLY},
	"nosuid":      {set: unix.MS_NOSUID},
	"suid":        {clear: unix.MS_NOSUID},
	"nodev":       {set: unix.MS_NODEV},
	"dev":         {clear: unix.MS_NODEV},
	"noexec":      {set: unix.MS_NOEXEC},
	"exec":        {clear: unix.MS_NOEXEC},
	"sync":        {set: unix.MS_SYNCHRONOUS},
	"async":       {clear: unix.MS_SYNCHRONOUS},
	"dirsync":     {set: unix.MS_DIRSYNC},
	"mand":        {set: unix.MS_MANDLOCK},
	"nomand":      {clear: unix.MS_MANDLOCK},
	"noatime":     {set: unix.MS_NOATIME, clear: unix.MS_RELATIME | unix.MS_STRICTATIME},
	"atime":       {clear: unix.MS_NOATIME},
	"nodiratime":  {set: unix.MS_NODIRATIME},
	"diratime":    {clear: unix.MS_NODIRATIME},
	"relatime":    {set: unix.MS_RELATIME, clear: unix.MS_NOATIME | unix.MS_STRICTATIME},
	"norelatime":  {clear: unix.MS_RELATIME},
	"strictatime": {set: unix.MS_STRICTATIME, clear: unix.MS_NOATIME | unix.MS_RELATIME},
	"lazytime":    {set: unix.MS_LAZYTIME},
	"nolazytime":  {clear: unix.MS_LAZYTIME},
	"silent":      {set: unix.MS_SILENT},
	"loud":        {clear: unix.MS_SILENT},
	"bind":        {set: unix.MS_BIND},
	"rbind":       {set: unix.MS_BIND | unix.MS_REC},
}

// refused are options that cannot be applied by a single mount(2) of a new filesystem (bind
// and rbind stay in flags for FlagNames only).
var refused = map[string]string{
	"remount":     "a volume is mounted once at boot",
	"move":        "a volume is mounted once at boot",
	"shared":      "mount propagation needs a second mount call",
	"rshared":     "mount propagation needs a second mount call",
	"private":     "mount propagation needs a second mount call",
	"rprivate":    "mount propagation needs a second mount call",
	"slave":       "mount propagation needs a second mount call",
	"rslave":      "mount propagation needs a second mount call",
	"unbindable":  "mount propagation needs a second mount call",
	"runbindable": "mount propagation needs a second mount call",
	"loop":        "loop devices are not set up by bootplan",
	"user":        "there are no user mounts",
	"users":       "there are no user mounts",
	"owner":       "there are no user mounts",
	"group":       "there are no user mounts",
	"idmap":       "id-mapped mounts are not supported",
	"bind":        "a bind mount remounts a directory, and an EBS volume is a device with a filesystem",
	"rbind":       "a bind mount remounts a directory, and an EBS volume is a device with a filesystem",
}

// userspaceOnly are fstab/mount(8) options with no meaning for the kernel.
var userspaceOnly = map[string]bool{"auto": true, "noauto": true, "nofail": true, "_netdev": true, "nouser": true}

// Parse parses options in order; each entry may itself be comma-separated. Later options win
// over earlier ones ("ro,rw" is read-write). Options the kernel does not know as flags go to
// Data unchanged, for the filesystem to judge at mount time.
func Parse(opts []string) (Options, error) {
	var o Options
	var data []string
	for _, entry := range opts {
		for _, opt := range strings.Split(entry, ",") {
			opt = strings.TrimSpace(opt)
			switch {
			case opt == "":
				continue
			case opt == "nosymfollow":
				o.Flags |= unix.MS_NOSYMFOLLOW
				continue
			case userspaceOnly[opt] || strings.HasPrefix(opt, "x-") || strings.HasPrefix(opt, "X-") || strings.HasPrefix(opt, "comment="):
				o.Ignored = append(o.Ignored, opt)
				continue
			}
			if why, bad := refused[opt]; bad {
				return Options{}, fmt.Errorf("mount option %q is not supported: %s", opt, why)
			}
			if f, ok := flags[opt]; ok {
				o.Flags = o.Flags&^f.clear | f.set
				continue
			}
			if strings.ContainsAny(opt, "\x00\n") {
				return Options{}, fmt.Errorf("mount option %q holds a control character", opt)
			}
			data = append(data, opt)
		}
	}
	o.Data = strings.Join(data, ",")
	return o, nil
}

// FlagNames lists the names of the MS_* flags set in f, sorted, for messages and journals.
func FlagNames(f uintptr) []string {
	var names []string
	for name, op := range flags {
		if op.set != 0 && f&op.set == op.set && name != "bind" || name == "bind" && f&unix.MS_BIND != 0 && f&unix.MS_REC == 0 {
			names = append(names, name)
		}
	}
	if f&unix.MS_NOSYMFOLLOW != 0 {
		names = append(names, "nosymfollow")
	}
	sort.Strings(names)
	return names
}
