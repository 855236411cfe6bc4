package netconf

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

func TestChooseIMDS(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint, mode string
		have4, have6         bool
		want, note           string
	}{
		{"dual stack defaults to IPv4", "", "", true, true, IMDSv4Endpoint, ""},
		{"IPv4 only", "", "", true, false, IMDSv4Endpoint, ""},
		{"IPv6-only subnet", "", "", false, true, IMDSv6Endpoint, ""},
		{"nothing configured keeps IPv4", "", "", false, false, IMDSv4Endpoint, ""},
		{"mode IPv6 on dual stack", "", "IPv6", true, true, IMDSv6Endpoint, ""},
		{"mode is case-insensitive", "", "ipv6", true, false, IMDSv6Endpoint, ""},
		{"mode IPv4 on IPv6-only", "", "IPv4", false, true, IMDSv4Endpoint, ""},
		{"explicit endpoint wins over mode", "http://10.0.0.9:8080/", "IPv6", false, true, "http://10.0.0.9:8080", ""},
		{"bad mode is noted and ignored", "", "ipv7", false, true, IMDSv6Endpoint, `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE="ipv7" ignored`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := ChooseIMDS(tc.endpoint, tc.mode, tc.have4, tc.have6)
			if got != tc.want {
				t.Errorf("url %q, want %q", got, tc.want)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("note %q, want %q", note, tc.note)
			}
		})
	}
}

var mac6 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func reply6(mods ...func(*dhcpv6.Message)) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: dhcpv6.TransactionID{1, 2, 3}}
	m.AddOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
	for _, f := range mods {
		f(m)
	}
	return m
}

func withIA(addrs ...string) func(*dhcpv6.Message) {
	return func(m *dhcpv6.Message) {
		ia := &dhcpv6.OptIANA{IaId: [4]byte{0, 0x12, 0x34, 0x56}}
		for _, a := range addrs {
			ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(a), PreferredLifetime: 30 * time.Minute, ValidLifetime: time.Hour})
		}
		m.AddOption(ia)
	}
}

func TestInterpret6(t *testing.T) {
	dns := func(m *dhcpv6.Message) { m.AddOption(dhcpv6.OptDNS(net.ParseIP("fd00:ec2::253"))) }
	search := func(m *dhcpv6.Message) {
		m.AddOption(dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"ec2.internal"}}))
	}
	for _, tc := range []struct {
		name    string
		msg     *dhcpv6.Message
		want    Lease6
		wantErr string
	}{
		{"EC2-like reply", reply6(withIA("2600:1f18::1a"), dns, search), Lease6{
			Address: netip.MustParsePrefix("2600:1f18::1a/128"), Preferred: 30 * time.Minute, Valid: time.Hour,
			DNS: []netip.Addr{netip.MustParseAddr("fd00:ec2::253")}, Search: []string{"ec2.internal"},
			Server: "DUID-LL{HWType=Ethernet HWAddr=02:00:00:00:00:01}"}, ""},
		{"link-local entry skipped", reply6(withIA("fe80::1", "fd00:ec2::1a0")), Lease6{
			Address: netip.MustParsePrefix("fd00:ec2::1a0/128"), Preferred: 30 * time.Minute, Valid: time.Hour,
			Server: "DUID-LL{HWType=Ethernet HWAddr=02:00:00:00:00:01}"}, ""},
		{"nil", nil, Lease6{}, "no DHCPv6 reply"},
		{"advertise is not a reply", func() *dhcpv6.Message {
			m := reply6(withIA("fd00::1"))
			m.MessageType = dhcpv6.MessageTypeAdvertise
			return m
		}(), Lease6{}, "not REPLY"},
		{"no IA_NA", reply6(dns), Lease6{}, "no IA_NA"},
		{"IA_NA without address", reply6(withIA()), Lease6{}, "no usable address"},
		{"IA status NoAddrsAvail", reply6(func(m *dhcpv6.Message) {
			ia := &dhcpv6.OptIANA{}
			ia.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "pool empty"})
			m.AddOption(ia)
		}), Lease6{}, "pool empty"},
		{"message status refused", reply6(withIA("fd00::1"), func(m *dhcpv6.Message) {
			m.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNotOnLink, StatusMessage: "wrong link"})
		}), Lease6{}, "wrong link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Interpret6(tc.msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// A SOLICIT and the REQUEST built from the server's ADVERTISE survive the wire and carry what
// a server needs: client id, IA_NA with the MAC's IAID, the server id back.
func TestSolicitRequest6(t *testing.T) {
	xid := TransactionID6(42)
	sol, err := dhcpv6.MessageFromBytes(Solicit6(xid, mac6).ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if sol.TransactionID != xid || sol.Options.ClientID() == nil || sol.Options.OneIANA() == nil ||
		sol.Options.OneIANA().IaId != [4]byte{0, 0x12, 0x34, 0x56} {
		t.Fatalf("solicit %s", sol.Summary())
	}
	adv, err := dhcpv6.NewAdvertiseFromSolicit(sol, dhcpv6.WithServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac6}))
	if err != nil {
		t.Fatal(err)
	}
	withIA("fd00:ec2::1a0")(adv)
	req, err := Request6(xid, mac6, adv)
	if err != nil {
		t.Fatal(err)
	}
	req, err = dhcpv6.MessageFromBytes(req.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if req.MessageType != dhcpv6.MessageTypeRequest || req.Options.ServerID() == nil ||
		req.Options.OneIANA().Options.OneAddress().IPv6Addr.String() != "fd00:ec2::1a0" {
		t.Fatalf("request %s", req.Summary())
	}
	if _, err := Request6(xid, mac6, reply6(withIA("fd00::1"))); err == nil {
		t.Fatal("Request6 accepted a REPLY")
	}
	noAddr := reply6(func(m *dhcpv6.Message) {
		ia := &dhcpv6.OptIANA{}
		ia.Options.Add(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail})
		m.AddOption(ia)
	})
	noAddr.MessageType = dhcpv6.MessageTypeAdvertise
	if _, err := Request6(xid, mac6, noAddr); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Fatalf("Request6 on NoAddrsAvail: %v", err)
	}
}

func TestResolvConfDualStack(t *testing.T) {
	v4 := Lease{DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Domain: "ec2.internal", Search: []string{"ec2.internal"}}
	v6 := Lease6{DNS: []netip.Addr{netip.MustParseAddr("fd00:ec2::253")}, Search: []string{"ec2.internal", "example.org"}}
	got := ResolvConf(WithIPv6DNS(v4, v6))
	want := "# written by bootplan from the DHCP lease\ndomain ec2.internal\nsearch ec2.internal example.org\nnameserver 10.0.0.2\nnameserver fd00:ec2::253\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := ResolvConf(WithIPv6DNS(Lease{}, v6)); !strings.Contains(got, "nameserver fd00:ec2::253\n") || strings.Contains(got, "domain") {
		t.Fatalf("IPv6-only resolv.conf:\n%s", got)
	}
	if len(v4.DNS) != 1 {
		t.Fatal("WithIPv6DNS changed its argument")
	}
}
