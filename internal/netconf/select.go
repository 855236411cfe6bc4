// Package netconf is stage one's network logic without syscalls: which interface is the
// primary one, what a DHCP lease means, what /etc/resolv.conf says. The netlink and socket
// side lives in stage1.
package netconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxCandidates bounds how many interfaces are considered (as easyto did).
const MaxCandidates = 16

// Link is what selection needs to know about one network link.
type Link struct {
	Index int
	Name  string
	Kind  string // IFLA_LINKINFO kind ("veth", "bridge", ...); "" for a physical NIC
	MAC   string // lowercase aa:bb:cc:dd:ee:ff; "" when the link has none
}

// skippedPrefixes are names that are never the primary NIC.
var skippedPrefixes = []string{"lo", "veth", "docker", "br", "virbr", "vlan", "tun", "tap",
	"macvtap", "bond", "team", "wg", "ppp", "dummy"}

// Candidates returns the links that may be the primary interface, lowest ifindex first: no
// virtual kind, no skipped name prefix, a MAC. Links beyond MaxCandidates are dropped with a
// warning each.
func Candidates(links []Link) (cands []Link, warnings []string) {
	sorted := append([]Link(nil), links...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Index < sorted[j].Index })
	for _, l := range sorted {
		if l.Kind != "" || l.MAC == "" || l.MAC == "00:00:00:00:00:00" || hasSkippedPrefix(l.Name) {
			continue
		}
		if len(cands) == MaxCandidates {
			warnings = append(warnings, fmt.Sprintf("more than %d interfaces, ignoring %s", MaxCandidates, l.Name))
			continue
		}
		cands = append(cands, l)
	}
	return cands, warnings
}

func hasSkippedPrefix(name string) bool {
	for _, p := range skippedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ParseMACs reads IMDS meta-data/network/interfaces/macs/: one MAC per line, possibly with a
// trailing slash. Entries that are not MACs are dropped; at most MaxCandidates are kept.
func ParseMACs(body string) []string {
	var macs []string
	for _, line := range strings.Split(body, "\n") {
		m := strings.ToLower(strings.Trim(line, " \t\r/"))
		if len(m) != 17 || strings.Count(m, ":") != 5 {
			continue
		}
		macs = append(macs, m)
		if len(macs) == MaxCandidates {
			break
		}
	}
	return macs
}

// ParseDeviceNumber reads one macs/<mac>/device-number answer.
func ParseDeviceNumber(body string) (int, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(body), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("device-number %q: not a number", strings.TrimSpace(body))
	}
	return int(n), nil
}

// Rename is one interface rename.
type Rename struct {
	Index    int
	From, To string
}

// ENIPlan is the outcome of matching candidates against IMDS device numbers.
type ENIPlan struct {
	Primary Link     // the interface with device-number 0, as it will be named (eth0)
	Renames []Rename // in the order to apply them
	Others  []string // final names of the other candidates (left unconfigured)
}

// PlanENIs decides, from the candidates and the device number IMDS gives each MAC, which
// interface is primary and how every candidate is renamed (eth<device-number>). It fails
// when no candidate has device number 0. Renames that would collide are ordered so each
// target name is free when applied: every candidate is first moved to a temporary name
// when its target is held by another candidate.
func PlanENIs(cands []Link, devnum map[string]int) (ENIPlan, error) {
	var p ENIPlan
	found := false
	want := map[int]string{} // index -> final name
	for _, c := range cands {
		n, ok := devnum[c.MAC]
		if !ok {
			continue
		}
		want[c.Index] = "eth" + strconv.Itoa(n)
		if n == 0 {
			found = true
			p.Primary = c
			p.Primary.Name = "eth0"
		}
	}
	if !found {
		return ENIPlan{}, fmt.Errorf("no candidate interface matched IMDS device-number 0 (MACs %s)", macList(cands))
	}
	// Names currently held by candidates that will move.
	held := map[string]int{}
	for _, c := range cands {
		held[c.Name] = c.Index
	}
	var direct, viaTemp []Rename
	for _, c := range cands {
		to, ok := want[c.Index]
		if !ok || to == c.Name {
			continue
		}
		if idx, busy := held[to]; busy && idx != c.Index {
			tmp := fmt.Sprintf("bpren%d", c.Index)
			direct = append(direct, Rename{Index: c.Index, From: c.Name, To: tmp})
			viaTemp = append(viaTemp, Rename{Index: c.Index, From: tmp, To: to})
			continue
		}
		direct = append(direct, Rename{Index: c.Index, From: c.Name, To: to})
	}
	p.Renames = append(direct, viaTemp...)
	for _, c := range cands {
		if c.Index == p.Primary.Index {
			continue
		}
		name := c.Name
		if to, ok := want[c.Index]; ok {
			name = to
		}
		p.Others = append(p.Others, name)
	}
	return p, nil
}

func macList(cands []Link) string {
	var s []string
	for _, c := range cands {
		s = append(s, c.MAC)
	}
	return strings.Join(s, ", ")
}

// FreeEthName returns eth<max+1> over the names of the form eth<digits> (eth0 when none), a
// name to move a non-candidate link out of the way.
func FreeEthName(names []string) string {
	max := -1
	for _, n := range names {
		d, ok := strings.CutPrefix(n, "eth")
		if !ok || d == "" {
			continue
		}
		v, err := strconv.Atoi(d)
		if err != nil || strconv.Itoa(v) != d {
			continue
		}
		if v > max {
			max = v
		}
	}
	return "eth" + strconv.Itoa(max+1)
}
