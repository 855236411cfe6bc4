package netconf

import (
	"net/netip"
	"strings"
)

// ResolvConf renders /etc/resolv.conf for the lease, or "" when the lease offers no DNS
// server (then the image's file is left alone).
func ResolvConf(l Lease) string {
	if len(l.DNS) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("# written by bootplan from the DHCP lease\n")
	if l.Domain != "" {
		b.WriteString("domain " + l.Domain + "\n")
	}
	if len(l.Search) > 0 {
		b.WriteString("search " + strings.Join(l.Search, " ") + "\n")
	}
	seen := map[netip.Addr]bool{}
	for _, d := range l.DNS {
		if seen[d] {
			continue
		}
		seen[d] = true
		b.WriteString("nameserver " + d.String() + "\n")
	}
	return b.String()
}
