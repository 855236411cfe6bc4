package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// IMDS endpoints on EC2 (Nitro): the IPv4 link-local one and the IPv6 unique-local one.
const (
	IMDSv4Endpoint = "http://169.254.169.254"
	IMDSv6Endpoint = "http://[fd00:ec2::254]"
)

// IMDSModeEnv names the variable (as the AWS SDKs read it) that picks the IMDS address family.
const IMDSModeEnv = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"

// ChooseIMDS picks the IMDS base URL. An explicit endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT)
// always wins; then the mode (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE, "IPv4" or "IPv6", case
// as the SDKs accept it); with neither, IPv4 when DHCPv4 configured an address, else IPv6 when
// only IPv6 did (an IPv6-only subnet). note is non-empty when something was ignored.
func ChooseIMDS(endpoint, mode string, have4, have6 bool) (url, note string) {
	if e := strings.TrimRight(strings.TrimSpace(endpoint), "/"); e != "" {
		return e, ""
	}
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "ipv6":
		return IMDSv6Endpoint, ""
	case "ipv4":
		return IMDSv4Endpoint, ""
	case "":
	default:
		note = fmt.Sprintf("%s=%q ignored (want IPv4 or IPv6)", IMDSModeEnv, mode)
	}
	if !have4 && have6 {
		return IMDSv6Endpoint, note
	}
	return IMDSv4Endpoint, note
}

// Lease6 is what stage one applies from a DHCPv6 REPLY (stateful: one IA_NA address).
type Lease6 struct {
	Address   netip.Prefix // the IA_NA address as a /128 (the on-link prefix comes from the RA)
	Preferred time.Duration
	Valid     time.Duration
	DNS       []netip.Addr // option 23
	Search    []string     // option 24
	Server    string       // server DUID, as the library prints it
}

// Interpret6 turns a DHCPv6 REPLY into a Lease6. A status other than success, at message or
// IA level, is an error naming the status.
func Interpret6(reply *dhcpv6.Message) (Lease6, error) {
	var l Lease6
	if reply == nil {
		return l, errors.New("no DHCPv6 reply")
	}
	if reply.MessageType != dhcpv6.MessageTypeReply {
		return l, fmt.Errorf("DHCPv6 answer is %s, not REPLY", reply.MessageType)
	}
	if st := reply.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return l, fmt.Errorf("DHCPv6 server refused: %s %q", st.StatusCode, st.StatusMessage)
	}
	ia := reply.Options.OneIANA()
	if ia == nil {
		return l, errors.New("DHCPv6 reply has no IA_NA (no address offered)")
	}
	if st := ia.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return l, fmt.Errorf("DHCPv6 server gave no address: %s %q", st.StatusCode, st.StatusMessage)
	}
	for _, a := range ia.Options.Addresses() {
		ip, ok := netip.AddrFromSlice(a.IPv6Addr)
		if !ok || !ip.Is6() || ip.Is4In6() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue
		}
		if a.ValidLifetime == 0 {
			continue // withdrawn
		}
		l.Address = netip.PrefixFrom(ip, 128)
		l.Preferred, l.Valid = a.PreferredLifetime, a.ValidLifetime
		break
	}
	if !l.Address.IsValid() {
		return l, errors.New("DHCPv6 IA_NA holds no usable address")
	}
	for _, d := range reply.Options.DNS() {
		if a, ok := netip.AddrFromSlice(d); ok && a.Is6() && !a.IsUnspecified() {
			l.DNS = append(l.DNS, a)
		}
	}
	if s := reply.Options.DomainSearchList(); s != nil {
		for _, n := range s.Labels {
			if n = strings.TrimSpace(n); n != "" {
				l.Search = append(l.Search, n)
			}
		}
	}
	if sid := reply.Options.ServerID(); sid != nil {
		l.Server = sid.String()
	}
	return l, nil
}

// Summary is one line for the console.
func (l Lease6) Summary() string {
	var b strings.Builder
	b.WriteString(l.Address.String())
	if len(l.DNS) > 0 {
		var s []string
		for _, d := range l.DNS {
			s = append(s, d.String())
		}
		b.WriteString(" dns " + strings.Join(s, ","))
	}
	if l.Valid > 0 {
		fmt.Fprintf(&b, " valid %s", l.Valid)
	}
	return b.String()
}

// requested6 are the options asked for: DNS servers and the search list.
var requested6 = []dhcpv6.OptionCode{dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList}

// As for DHCPv4 (packets.go), the library's builders draw the transaction id from the
// kernel's random pool; stage one supplies its own and builds SOLICIT and REQUEST here.

// TransactionID6 derives a 3-byte DHCPv6 transaction id from a seed without blocking.
func TransactionID6(seed uint64) dhcpv6.TransactionID {
	x := TransactionID(seed)
	return dhcpv6.TransactionID{x[1], x[2], x[3]}
}

// ClientDUID is the DUID-LL of the interface: stable across boots, no clock needed.
func ClientDUID(mac net.HardwareAddr) dhcpv6.DUID {
	return &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac}
}

func iaid(mac net.HardwareAddr) [4]byte {
	var id [4]byte
	if len(mac) >= 4 {
		copy(id[:], mac[len(mac)-4:])
	}
	return id
}

// Solicit6 builds a SOLICIT for one IA_NA.
func Solicit6(xid dhcpv6.TransactionID, mac net.HardwareAddr) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit, TransactionID: xid}
	m.AddOption(dhcpv6.OptClientID(ClientDUID(mac)))
	m.AddOption(dhcpv6.OptRequestedOption(requested6...))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	m.AddOption(&dhcpv6.OptIANA{IaId: iaid(mac)})
	return m
}

// Request6 builds the REQUEST for an ADVERTISE (RFC 8415 §18.2.2): same client id, the
// server's id and the advertised IA_NA.
func Request6(xid dhcpv6.TransactionID, mac net.HardwareAddr, adv *dhcpv6.Message) (*dhcpv6.Message, error) {
	if adv == nil || adv.MessageType != dhcpv6.MessageTypeAdvertise {
		return nil, errors.New("not an ADVERTISE")
	}
	sid := adv.GetOneOption(dhcpv6.OptionServerID)
	if sid == nil {
		return nil, errors.New("ADVERTISE without server identifier")
	}
	ia := adv.Options.OneIANA()
	if ia == nil {
		return nil, errors.New("ADVERTISE without IA_NA (no address offered)")
	}
	if st := ia.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return nil, fmt.Errorf("ADVERTISE offers no address: %s %q", st.StatusCode, st.StatusMessage)
	}
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeRequest, TransactionID: xid}
	m.AddOption(dhcpv6.OptClientID(ClientDUID(mac)))
	m.AddOption(sid)
	m.AddOption(dhcpv6.OptRequestedOption(requested6...))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	m.AddOption(ia)
	return m, nil
}

// WithIPv6DNS returns l with the DHCPv6 servers and search domains added after its own
// (IPv4 servers first, as the lease arrived first on dual-stack), for ResolvConf.
func WithIPv6DNS(l Lease, l6 Lease6) Lease {
	l.DNS = append(append([]netip.Addr(nil), l.DNS...), l6.DNS...)
	seen := map[string]bool{}
	var search []string
	for _, s := range append(append([]string(nil), l.Search...), l6.Search...) {
		if !seen[s] {
			seen[s] = true
			search = append(search, s)
		}
	}
	l.Search = search
	return l
}
