package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Route is one route a lease asks for. A zero Gateway means on-link.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

func (r Route) String() string {
	if !r.Gateway.IsValid() || r.Gateway.IsUnspecified() {
		return r.Dst.String() + " on-link"
	}
	return r.Dst.String() + " via " + r.Gateway.String()
}

// Lease is what stage one applies from a DHCPv4 ACK.
type Lease struct {
	Address   netip.Prefix // yiaddr with the lease's mask
	Gateway   netip.Addr   // default gateway; invalid when the lease has none (valid: slirp restrict=on)
	Routes    []Route      // every route to install besides the connected subnet, default route included
	MTU       int          // option 26; 0 = leave the link's MTU
	DNS       []netip.Addr // option 6
	Domain    string       // option 15
	Search    []string     // option 119
	Hostname  string       // option 12
	Server    netip.Addr   // option 54
	LeaseTime time.Duration
	Notes     []string // things a person may want to know (ignored options, defaults used)
}

// MinMTU is the smallest IPv4 MTU (RFC 791); smaller option 26 values are ignored.
const MinMTU = 68

// Interpret turns an ACK into a Lease. Option 121 (classless static routes), when present,
// takes precedence over option 3 (routers), as RFC 3442 requires. A lease without any
// router is valid: the subnet is on-link and that is all there is.
func Interpret(ack *dhcpv4.DHCPv4) (Lease, error) {
	var l Lease
	if ack == nil {
		return l, errors.New("no DHCP acknowledgement")
	}
	ip, ok := v4(ack.YourIPAddr)
	if !ok || ip.IsUnspecified() {
		return l, fmt.Errorf("DHCP lease has no address (yiaddr %v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
		ones, _ := mask.Size()
		l.Notes = append(l.Notes, fmt.Sprintf("lease has no subnet mask; using the classful /%d", ones))
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return l, fmt.Errorf("DHCP lease has an invalid subnet mask %v", net.IP(mask))
	}
	l.Address = netip.PrefixFrom(ip, ones)

	if srv, ok := v4(ack.ServerIdentifier()); ok {
		l.Server = srv
	}
	l.LeaseTime = ack.IPAddressLeaseTime(0)

	if routes := ack.ClasslessStaticRoute(); len(routes) > 0 {
		for _, r := range routes {
			if r == nil || r.Dest == nil {
				continue
			}
			dst, ok := v4(r.Dest.IP)
			if !ok {
				continue
			}
			o, _ := r.Dest.Mask.Size()
			gw, _ := v4(r.Router)
			rt := Route{Dst: netip.PrefixFrom(dst, o).Masked(), Gateway: gw}
			if o == 0 && gw.IsValid() && !gw.IsUnspecified() {
				l.Gateway = gw
			}
			l.Routes = append(l.Routes, rt)
		}
		if len(ack.Router()) > 0 {
			l.Notes = append(l.Notes, "router option ignored: classless static routes take precedence (RFC 3442)")
		}
	} else {
		for _, r := range ack.Router() {
			if gw, ok := v4(r); ok && !gw.IsUnspecified() {
				l.Gateway = gw
				l.Routes = append(l.Routes, Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: gw})
				break
			}
		}
	}

	if b := ack.GetOneOption(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		mtu := int(b[0])<<8 | int(b[1])
		if mtu >= MinMTU {
			l.MTU = mtu
		} else {
			l.Notes = append(l.Notes, fmt.Sprintf("MTU %d ignored (below %d)", mtu, MinMTU))
		}
	}

	for _, d := range ack.DNS() {
		if a, ok := v4(d); ok && !a.IsUnspecified() {
			l.DNS = append(l.DNS, a)
		}
	}
	l.Domain = strings.TrimSpace(ack.DomainName())
	if s := ack.DomainSearch(); s != nil {
		for _, name := range s.Labels {
			if name = strings.TrimSpace(name); name != "" {
				l.Search = append(l.Search, name)
			}
		}
	}
	l.Hostname = strings.TrimSpace(ack.HostName())
	return l, nil
}

// OnLink reports whether gw is inside the lease's own subnet (else its route needs onlink).
func (l Lease) OnLink(gw netip.Addr) bool {
	return l.Address.Masked().Contains(gw)
}

func v4(ip net.IP) (netip.Addr, bool) {
	if ip == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	return a, a.Is4()
}

// Summary is one line for the console: "10.0.2.15/24 gw 10.0.2.2 mtu 9001 dns 10.0.0.2".
func (l Lease) Summary() string {
	var b strings.Builder
	b.WriteString(l.Address.String())
	if l.Gateway.IsValid() {
		b.WriteString(" gw " + l.Gateway.String())
	} else {
		b.WriteString(" (no router)")
	}
	if l.MTU > 0 {
		fmt.Fprintf(&b, " mtu %d", l.MTU)
	}
	if len(l.DNS) > 0 {
		var s []string
		for _, d := range l.DNS {
			s = append(s, d.String())
		}
		b.WriteString(" dns " + strings.Join(s, ","))
	}
	if n := len(l.Routes); n > 0 && !(n == 1 && l.Routes[0].Dst.Bits() == 0) {
		fmt.Fprintf(&b, " routes %d", n)
	}
	if l.LeaseTime > 0 {
		fmt.Fprintf(&b, " lease %s", l.LeaseTime)
	}
	return b.String()
}
