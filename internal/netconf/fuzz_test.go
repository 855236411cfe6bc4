package netconf

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzInterpret: a DHCP reply off the wire (dhcpv4.FromBytes) never makes Interpret, the
// lease helpers or the resolv.conf rendering panic, and an accepted lease has an address.
func FuzzInterpret(f *testing.F) {
	for _, m := range seedAcks() {
		f.Add(m.ToBytes())
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l, err := Interpret(m)
		if err != nil {
			return
		}
		if !l.Address.IsValid() || !l.Address.Addr().Is4() {
			t.Fatalf("lease without an IPv4 address: %+v", l)
		}
		_ = l.Summary()
		_ = ResolvConf(l)
		_ = l.OnLink(l.Gateway)
		for _, r := range l.Routes {
			_ = r.String()
			_ = l.OnLink(r.Gateway)
		}
	})
}

func seedAcks() []*dhcpv4.DHCPv4 {
	mk := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)}, mods...)...)
		if err != nil {
			panic(err)
		}
		return m
	}
	yi := dhcpv4.WithYourIP(net.IPv4(10, 0, 1, 25))
	return []*dhcpv4.DHCPv4{
		mk(yi, dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 0, 1, 1))),
			dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 0, 0, 2))), dhcpv4.WithOption(dhcpv4.OptDomainName("ec2.internal")),
			dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x23, 0x29}), dhcpv4.WithLeaseTime(3600)),
		mk(yi, dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(169, 254, 169, 254).To4(), Mask: net.CIDRMask(32, 32)}, Router: net.IPv4zero.To4()},
			&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: net.IPv4(10, 0, 1, 254).To4()}))),
		mk(yi, dhcpv4.WithGeneric(dhcpv4.OptionSubnetMask, []byte{255, 0, 255, 0}), dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 10})),
	}
}
