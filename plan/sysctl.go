package plan

import (
	"fmt"
	"strings"
)

// sysctlComponents splits a sysctl name into the file names under /proc/sys, the way
// sysctl(8) (procps) reads it: the first separator decides the form. In slash form
// (net/ipv4/conf/eth0.100/forwarding) '/' separates and a dot is part of a name; in dot form
// (net.ipv4.conf.eth0/100.forwarding) '.' separates and a '/' stands for a dot. Every
// component must be a plain file name: not empty, not "." or "..", no whitespace or control
// character, so the path stays under /proc/sys.
func sysctlComponents(n string) ([]string, error) {
	if n == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	if strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("invalid sysctl name %q: must not contain spaces or control characters (write net.ipv4.ip_forward or net/ipv4/ip_forward)", n)
	}
	var comps []string
	if i := strings.IndexAny(n, "./"); i >= 0 && n[i] == '/' {
		comps = strings.Split(n, "/")
	} else {
		comps = strings.Split(n, ".")
		for i, c := range comps {
			comps[i] = strings.ReplaceAll(c, "/", ".")
		}
	}
	for _, c := range comps {
		switch c {
		case "":
			return nil, fmt.Errorf("invalid sysctl name %q: empty component (no leading, trailing or doubled separators)", n)
		case ".", "..":
			return nil, fmt.Errorf("invalid sysctl name %q: a component is \".\" or \"..\"", n)
		}
	}
	return comps, nil
}

// SysctlPath returns the file of a sysctl name (either form) relative to /proc/sys:
// "net.ipv4.ip_forward" and "net/ipv4/ip_forward" are both "net/ipv4/ip_forward".
func SysctlPath(n string) (string, error) {
	comps, err := sysctlComponents(n)
	if err != nil {
		return "", err
	}
	return strings.Join(comps, "/"), nil
}

// NormalizeSysctlName returns the dot form of a sysctl name (either form), as `sysctl -a`
// prints it: "net/ipv4/conf/eth0.100/forwarding" is "net.ipv4.conf.eth0/100.forwarding".
func NormalizeSysctlName(n string) (string, error) {
	comps, err := sysctlComponents(n)
	if err != nil {
		return "", err
	}
	for i, c := range comps {
		comps[i] = strings.ReplaceAll(c, ".", "/")
	}
	return strings.Join(comps, "."), nil
}

// CheckSysctlName accepts a sysctl name in dot or slash form (read as sysctl(8) does) whose
// file stays under /proc/sys. Stage two checks again before writing, since a plan may be
// written by hand.
func CheckSysctlName(n string) error {
	_, err := sysctlComponents(n)
	return err
}
