package netconf

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The library's own builders (dhcpv4.NewDiscovery, NewRequestFromOffer) draw the transaction
// id from the kernel's random pool and block until it is ready, which on a machine without
// RDRAND or virtio-rng can take a minute early in boot. A transaction id only has to be
// unlikely to collide, so stage one supplies its own and builds the two messages here.

// requested are the options stage one asks the server for.
var requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionClasslessStaticRoute,
}

// maxMessageSize is what the client accepts (the library's receive buffer).
const maxMessageSize = 1500

func base(xid dhcpv4.TransactionID, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  mac,
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

// Discover builds a DHCPDISCOVER with the broadcast flag (the client has no address yet).
func Discover(xid dhcpv4.TransactionID, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	return base(xid, mac,
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover),
		dhcpv4.WithRequestedOptions(requested...),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(maxMessageSize)),
	)
}

// Request builds the DHCPREQUEST (SELECTING state, RFC 2131 §4.3.2) for an offer.
func Request(xid dhcpv4.TransactionID, mac net.HardwareAddr, offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	return base(xid, mac,
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(offer, dhcpv4.OptionServerIdentifier),
		dhcpv4.WithRequestedOptions(requested...),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(maxMessageSize)),
	)
}

// TransactionID derives an id from a seed (the caller mixes in a non-blocking random read,
// the clock and the MAC); it never blocks.
func TransactionID(seed uint64) dhcpv4.TransactionID {
	// splitmix64 finaliser: spreads any seed over all 32 bits.
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return dhcpv4.TransactionID{byte(z >> 24), byte(z >> 16), byte(z >> 8), byte(z)}
}
