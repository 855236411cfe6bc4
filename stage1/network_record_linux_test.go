package stage1

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/plan"
)

// What the plan records of a lease: the default route is the gateway; other routes keep
// their gateway, none when it is 0.0.0.0 or absent (on-link).
func TestRecordNetwork(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	l := netconf.Lease{Address: p("10.0.1.25/24"), Gateway: a("10.0.1.1"), Server: a("10.0.1.2"), MTU: 9001,
		DNS: []netip.Addr{a("10.0.0.2")}, Domain: "ec2.internal", Search: []string{"x"}, LeaseTime: time.Hour,
		Routes: []netconf.Route{
			{Dst: p("0.0.0.0/0"), Gateway: a("10.0.1.1")},
			{Dst: p("169.254.169.254/32"), Gateway: a("0.0.0.0")},
			{Dst: p("10.200.0.0/16"), Gateway: a("10.0.1.254")},
			{Dst: p("10.201.0.0/16")},
		}}
	want := plan.Network{Configured: true, Interface: "eth0", MAC: "02:00:00:00:00:01", Address: "10.0.1.25/24",
		Gateway: "10.0.1.1", DHCPServer: "10.0.1.2", MTU: 9001, DNS: []string{"10.0.0.2"}, Domain: "ec2.internal",
		Search: []string{"x"}, LeaseSeconds: 3600, Routes: []plan.Route{
			{Destination: "169.254.169.254/32"}, {Destination: "10.200.0.0/16", Gateway: "10.0.1.254"}, {Destination: "10.201.0.0/16"}}}
	if got := recordNetwork("eth0", "02:00:00:00:00:01", l); !reflect.DeepEqual(got, want) {
		t.Fatalf("recordNetwork:\n got %+v\nwant %+v", got, want)
	}
	// No router, no server: neither is recorded.
	got := recordNetwork("eth0", "", netconf.Lease{Address: p("10.0.1.25/24")})
	if got.Gateway != "" || got.DHCPServer != "" || got.Routes != nil {
		t.Fatalf("recordNetwork without router: %+v", got)
	}
}

// waitCarrier returns once the link has carrier, and fails after carrierTimeout when it
// never gets one (a veth whose peer is down).
func TestWaitCarrier(t *testing.T) {
	requireRoot(t)
	old := carrierTimeout
	carrierTimeout = 300 * time.Millisecond
	t.Cleanup(func() { carrierTimeout = old })
	ns := newNS(t)
	if err := ns.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth7"}, PeerName: "veth7p"}); err != nil {
		t.Fatal(err)
	}
	l, err := ns.nl.LinkByName("eth7")
	if err != nil {
		t.Fatal(err)
	}
	env := &netEnv{nl: ns.nl}
	if err := ns.nl.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	err = waitCarrier(context.Background(), env, l.Attrs().Index, "eth7")
	if err == nil || err.Error() != "eth7: carrier never came up (waited 300ms)" {
		t.Fatalf("peer down: %v", err)
	}
	peer, err := ns.nl.LinkByName("veth7p")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.nl.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	carrierTimeout = 10 * time.Second
	if err := waitCarrier(context.Background(), env, l.Attrs().Index, "eth7"); err != nil {
		t.Fatalf("peer up: %v", err)
	}
	if err := waitCarrier(context.Background(), env, 9999, "nope"); err == nil || !strings.HasPrefix(err.Error(), "nope: ") {
		t.Fatalf("missing link: %v", err)
	}
}

// rename moves a link holding the wanted name out of the way (to the next free ethN) first.
func TestRenameMovesTheHolderAway(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	logs := captureConsole(t)
	if err := ns.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth9"}); err != nil {
		t.Fatal(err)
	}
	old0, _ := ns.nl.LinkByName("eth0")
	l, err := ns.nl.LinkByName("eth9")
	if err != nil {
		t.Fatal(err)
	}
	env := &netEnv{nl: ns.nl}
	if err := rename(env, l.Attrs().Index, "eth0"); err != nil {
		t.Fatalf("rename: %v\n%s", err, logs)
	}
	if got, err := ns.nl.LinkByName("eth0"); err != nil || got.Attrs().Index != l.Attrs().Index {
		t.Fatalf("eth0 is %v, %v; want ifindex %d", got, err, l.Attrs().Index)
	}
	if got, err := ns.nl.LinkByName("eth10"); err != nil || got.Attrs().Index != old0.Attrs().Index {
		t.Fatalf("the old eth0 is not eth10: %v, %v", got, err)
	}
	// Already named so: nothing to do.
	if err := rename(env, l.Attrs().Index, "eth0"); err != nil || strings.Count(logs.String(), "renamed") != 1 {
		t.Fatalf("second rename: %v\n%s", err, logs)
	}
}

// Drivers that load nothing new are not announced, and an interface that shows up a moment
// after loading (drivers probe asynchronously) is waited for.
func TestCandidatesWaitForALateLink(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	logs := captureConsole(t)
	added := make(chan error, 1)
	env := &netEnv{nl: ns.nl, allowKinds: map[string]bool{"veth": true}, loadModules: func() ([]string, error) {
		go func() {
			time.Sleep(300 * time.Millisecond)
			added <- ns.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth5"}, PeerName: "veth5p"})
		}()
		return nil, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := candidates(ctx, env)
	if err != nil || len(c) != 1 || c[0].Name != "eth5" {
		t.Fatalf("candidates %v, %v\n%s", c, err, logs)
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "loaded NIC drivers") {
		t.Errorf("console: %q", logs.String())
	}
}
