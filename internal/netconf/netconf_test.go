package netconf

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

func names(ls []Link) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name)
	}
	return s
}

func TestCandidates(t *testing.T) {
	const mac = "52:54:00:12:34:56"
	for _, tc := range []struct {
		name  string
		links []Link
		want  []string
	}{
		{"none", nil, nil},
		{"loopback only", []Link{{1, "lo", "", ""}}, nil},
		{"one nic", []Link{{1, "lo", "", ""}, {2, "ens5", "", mac}}, []string{"ens5"}},
		{"virtual kinds skipped", []Link{
			{2, "eth0", "veth", mac}, {3, "x0", "bridge", mac}, {4, "v", "vlan", mac}, {5, "ens6", "", mac},
		}, []string{"ens6"}},
		{"name prefixes skipped", []Link{
			{2, "docker0", "", mac}, {3, "br-1", "", mac}, {4, "tap0", "", mac}, {5, "wg0", "", mac},
			{6, "dummy0", "", mac}, {7, "bond0", "", mac}, {8, "enp0s3", "", mac},
		}, []string{"enp0s3"}},
		{"no mac skipped", []Link{{2, "eth0", "", ""}, {3, "eth1", "", "00:00:00:00:00:00"}}, nil},
		{"sorted by ifindex", []Link{{9, "ens7", "", mac}, {3, "ens5", "", mac}, {5, "ens6", "", mac}},
			[]string{"ens5", "ens6", "ens7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns := Candidates(tc.links)
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Fatalf("got %v, want %v", names(got), tc.want)
			}
			if len(warns) != 0 {
				t.Fatalf("warnings %v", warns)
			}
		})
	}
}

func TestCandidatesLimit(t *testing.T) {
	var links []Link
	for i := 0; i < 18; i++ {
		links = append(links, Link{Index: i + 2, Name: "eth" + string(rune('a'+i)), MAC: "02:00:00:00:00:01"})
	}
	got, warns := Candidates(links)
	if len(got) != MaxCandidates || len(warns) != 2 || !strings.Contains(warns[0], "ignoring ethq") {
		t.Fatalf("got %d candidates, warnings %v", len(got), warns)
	}
}

func TestParseMACs(t *testing.T) {
	got := ParseMACs("0A:00:00:00:00:01/\r\n0a:00:00:00:00:02/\n\nbogus\n")
	want := []string{"0a:00:00:00:00:01", "0a:00:00:00:00:02"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if n, err := ParseDeviceNumber(" 1\n"); err != nil || n != 1 {
		t.Fatalf("ParseDeviceNumber = %d, %v", n, err)
	}
	if _, err := ParseDeviceNumber("x"); err == nil {
		t.Fatal("want error")
	}
}

func TestPlanENIs(t *testing.T) {
	a := Link{2, "ens5", "", "0a:00:00:00:00:0a"}
	b := Link{3, "ens6", "", "0a:00:00:00:00:0b"}
	for _, tc := range []struct {
		name    string
		cands   []Link
		devnum  map[string]int
		primary int
		renames []Rename
		others  []string
		err     string
	}{
		{"lowest is primary", []Link{a, b}, map[string]int{a.MAC: 0, b.MAC: 1}, 2,
			[]Rename{{2, "ens5", "eth0"}, {3, "ens6", "eth1"}}, []string{"eth1"}, ""},
		{"second is primary", []Link{a, b}, map[string]int{a.MAC: 1, b.MAC: 0}, 3,
			[]Rename{{2, "ens5", "eth1"}, {3, "ens6", "eth0"}}, []string{"eth1"}, ""},
		{"swap needs temporaries", []Link{{2, "eth0", "", a.MAC}, {3, "eth1", "", b.MAC}},
			map[string]int{a.MAC: 1, b.MAC: 0}, 3,
			[]Rename{{2, "eth0", "bpren2"}, {3, "eth1", "bpren3"}, {2, "bpren2", "eth1"}, {3, "bpren3", "eth0"}},
			[]string{"eth1"}, ""},
		{"unknown mac left alone", []Link{a, b}, map[string]int{a.MAC: 0}, 2,
			[]Rename{{2, "ens5", "eth0"}}, []string{"ens6"}, ""},
		{"no device 0", []Link{a, b}, map[string]int{a.MAC: 1, b.MAC: 2}, 0, nil, nil, "device-number 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanENIs(tc.cands, tc.devnum)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Primary.Index != tc.primary || p.Primary.Name != "eth0" {
				t.Errorf("primary = %+v", p.Primary)
			}
			if !reflect.DeepEqual(p.Renames, tc.renames) {
				t.Errorf("renames = %v, want %v", p.Renames, tc.renames)
			}
			if !reflect.DeepEqual(p.Others, tc.others) {
				t.Errorf("others = %v, want %v", p.Others, tc.others)
			}
		})
	}
}

func TestFreeEthName(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "eth0"},
		{[]string{"lo", "eth0"}, "eth1"},
		{[]string{"eth3", "eth1", "eth01", "ethx", "eth"}, "eth4"},
	} {
		if got := FreeEthName(tc.in); got != tc.want {
			t.Errorf("FreeEthName(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func ack(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d := base(dhcpv4.TransactionID{1, 2, 3, 4}, net.HardwareAddr{2, 0, 0, 0, 0, 1},
		append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)}, mods...)...)
	d.OpCode = dhcpv4.OpcodeBootReply
	return d
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestInterpret(t *testing.T) {
	yi := dhcpv4.WithYourIP(net.IPv4(10, 0, 1, 25))
	mask24 := dhcpv4.WithNetmask(net.CIDRMask(24, 32))
	srv := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 1, 1)))
	router := dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 0, 1, 1)))
	mtu := dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x23, 0x29}) // 9001
	routes121 := dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(169, 254, 169, 254).To4(), Mask: net.CIDRMask(32, 32)}, Router: net.IPv4zero.To4()},
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: net.IPv4(10, 0, 1, 254).To4()},
	))
	dns := dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 0, 0, 2), net.IPv4(10, 0, 0, 3)))
	domain := dhcpv4.WithOption(dhcpv4.OptDomainName("ec2.internal"))
	search := dhcpv4.WithOption(dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: []string{"a.example", "b.example"}}))
	leaseTime := dhcpv4.WithLeaseTime(3600)

	for _, tc := range []struct {
		name string
		ack  *dhcpv4.DHCPv4
		want Lease
		err  string
	}{
		{"slirp restrict=on: no router, no dns", ack(yi, mask24, srv), Lease{
			Address: pfx("10.0.1.25/24"), Server: addr("10.0.1.1"),
		}, ""},
		{"router", ack(yi, mask24, srv, router, leaseTime), Lease{
			Address: pfx("10.0.1.25/24"), Server: addr("10.0.1.1"), Gateway: addr("10.0.1.1"),
			Routes: []Route{{pfx("0.0.0.0/0"), addr("10.0.1.1")}}, LeaseTime: time.Hour,
		}, ""},
		{"option 121 alone: no note", ack(yi, mask24, routes121), Lease{
			Address: pfx("10.0.1.25/24"), Gateway: addr("10.0.1.254"),
			Routes: []Route{{pfx("169.254.169.254/32"), addr("0.0.0.0")}, {pfx("0.0.0.0/0"), addr("10.0.1.254")}},
		}, ""},
		{"option 121 wins over router", ack(yi, mask24, router, routes121), Lease{
			Address: pfx("10.0.1.25/24"), Gateway: addr("10.0.1.254"),
			Routes: []Route{{pfx("169.254.169.254/32"), addr("0.0.0.0")}, {pfx("0.0.0.0/0"), addr("10.0.1.254")}},
			Notes:  []string{"router option ignored: classless static routes take precedence (RFC 3442)"},
		}, ""},
		{"mtu, dns, domain, search", ack(yi, mask24, router, mtu, dns, domain, search), Lease{
			Address: pfx("10.0.1.25/24"), Gateway: addr("10.0.1.1"),
			Routes: []Route{{pfx("0.0.0.0/0"), addr("10.0.1.1")}}, MTU: 9001,
			DNS: []netip.Addr{addr("10.0.0.2"), addr("10.0.0.3")}, Domain: "ec2.internal",
			Search: []string{"a.example", "b.example"},
		}, ""},
		{"tiny mtu ignored", ack(yi, mask24, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 20})), Lease{
			Address: pfx("10.0.1.25/24"), Notes: []string{"MTU 20 ignored (below 68)"},
		}, ""},
		// The boundary: 68 is the smallest IPv4 MTU and is used; 67 is not.
		{"mtu 68 used", ack(yi, mask24, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 68})), Lease{
			Address: pfx("10.0.1.25/24"), MTU: 68,
		}, ""},
		{"mtu 67 ignored", ack(yi, mask24, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 67})), Lease{
			Address: pfx("10.0.1.25/24"), Notes: []string{"MTU 67 ignored (below 68)"},
		}, ""},
		// The high byte counts: 0x0100 is 256, not 0.
		{"mtu 256", ack(yi, mask24, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{1, 0})), Lease{
			Address: pfx("10.0.1.25/24"), MTU: 256,
		}, ""},
		{"no mask: classful", ack(yi), Lease{
			Address: pfx("10.0.1.25/8"), Notes: []string{"lease has no subnet mask; using the classful /8"},
		}, ""},
		{"no address", ack(mask24), Lease{}, "no address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Interpret(tc.ack)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLeaseHelpers(t *testing.T) {
	l := Lease{Address: pfx("10.0.1.25/24"), Gateway: addr("10.0.1.1"), MTU: 9001,
		DNS: []netip.Addr{addr("10.0.0.2")}, LeaseTime: time.Hour}
	if !l.OnLink(addr("10.0.1.1")) || l.OnLink(addr("10.0.2.1")) {
		t.Fatal("OnLink")
	}
	if got := l.Summary(); got != "10.0.1.25/24 gw 10.0.1.1 mtu 9001 dns 10.0.0.2 lease 1h0m0s" {
		t.Fatalf("Summary = %q", got)
	}
	if got := (Lease{Address: pfx("169.254.169.15/24")}).Summary(); got != "169.254.169.15/24 (no router)" {
		t.Fatalf("Summary = %q", got)
	}
	// Routes are counted unless the only one is the default route.
	def := Route{pfx("0.0.0.0/0"), addr("10.0.1.1")}
	host := Route{pfx("169.254.169.254/32"), addr("0.0.0.0")}
	for routes, want := range map[*[]Route]string{
		{def}:       "10.0.1.25/24 gw 10.0.1.1",
		{host}:      "10.0.1.25/24 gw 10.0.1.1 routes 1",
		{host, def}: "10.0.1.25/24 gw 10.0.1.1 routes 2",
	} {
		l := Lease{Address: pfx("10.0.1.25/24"), Gateway: addr("10.0.1.1"), Routes: *routes}
		if got := l.Summary(); got != want {
			t.Errorf("Summary with routes %v = %q, want %q", *routes, got, want)
		}
	}
}

// TransactionID is splitmix64's finaliser (its first outputs for seeds 0 and 1 are
// 0xe220a8397b1dcdaf and 0x910a2dec89025cc1), low 32 bits, big-endian.
func TestTransactionID(t *testing.T) {
	if got := TransactionID(0); got != (dhcpv4.TransactionID{0x7b, 0x1d, 0xcd, 0xaf}) {
		t.Errorf("TransactionID(0) = %x", got)
	}
	if got := TransactionID(1); got != (dhcpv4.TransactionID{0x89, 0x02, 0x5c, 0xc1}) {
		t.Errorf("TransactionID(1) = %x", got)
	}
}

func TestResolvConf(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Lease
		want string
	}{
		{"no dns: leave the file alone", Lease{Domain: "x"}, ""},
		{"servers only", Lease{DNS: []netip.Addr{addr("10.0.0.2"), addr("10.0.0.2"), addr("1.1.1.1")}},
			"# written by bootplan from the DHCP lease\nnameserver 10.0.0.2\nnameserver 1.1.1.1\n"},
		{"domain and search", Lease{DNS: []netip.Addr{addr("10.0.0.2")}, Domain: "ec2.internal",
			Search: []string{"a.example", "b.example"}},
			"# written by bootplan from the DHCP lease\ndomain ec2.internal\nsearch a.example b.example\nnameserver 10.0.0.2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResolvConf(tc.l); got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPackets(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	xid := TransactionID(42)
	if xid == TransactionID(43) {
		t.Fatal("transaction ids collide")
	}
	d := Discover(xid, mac)
	// Round trip through the wire format: what the server sees.
	d, err := dhcpv4.FromBytes(d.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if d.MessageType() != dhcpv4.MessageTypeDiscover || d.TransactionID != xid || !d.IsBroadcast() ||
		d.ClientHWAddr.String() != mac.String() || !d.IsOptionRequested(dhcpv4.OptionClasslessStaticRoute) ||
		!d.IsOptionRequested(dhcpv4.OptionInterfaceMTU) {
		t.Fatalf("bad discover: %s", d.Summary())
	}
	offer := ack(dhcpv4.WithYourIP(net.IPv4(10, 0, 1, 25)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 1, 1))))
	r, err := dhcpv4.FromBytes(Request(xid, mac, offer).ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.MessageType() != dhcpv4.MessageTypeRequest || !r.RequestedIPAddress().Equal(net.IPv4(10, 0, 1, 25)) ||
		!r.ServerIdentifier().Equal(net.IPv4(10, 0, 1, 1)) || r.TransactionID != xid {
		t.Fatalf("bad request: %s", r.Summary())
	}
}
