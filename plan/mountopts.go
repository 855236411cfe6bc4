package plan

import (
	"fmt"
	"strings"
)

// splitMountOptions splits one user-data mount.options entry fstab-style: "noatime,nodiratime"
// is two options. Spaces around a comma are dropped and empty pieces skipped, as mount(8) does;
// an entry with no option at all, or whitespace or a control character inside an option, is
// an error (fstab could not hold it either). Whether the kernel knows an option is decided at
// mount time by stage two.
func splitMountOptions(entry string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(entry, ",") {
		o = strings.Trim(o, " ")
		if o == "" {
			continue
		}
		if strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("invalid mount option %q: no spaces or control characters inside an option (separate options with commas or list entries)", o)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty mount option %q (want e.g. noatime or noatime,nodiratime)", entry)
	}
	return out, nil
}
