package stage1

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/internal/testneed"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netns is one network namespace the test created: a file descriptor that keeps it alive and
// a netlink handle bound to it.
type netns struct {
	fd int
	nl *netlink.Handle
}

// inNS runs f on this OS thread while it is inside ns (sockets created by f stay in ns).
func inNS(t *testing.T, fd int, f func() error) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(orig)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return err
	}
	defer func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the original network namespace: " + err.Error())
		}
	}()
	return f()
}

func newNS(t *testing.T) *netns {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(orig)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	ns := &netns{}
	ns.fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		panic("cannot return to the original network namespace: " + serr.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.nl.Close(); unix.Close(ns.fd) })
	return ns
}

func requireRoot(t *testing.T) {
	t.Helper()
	testneed.Root(t, "the DHCP test creates network namespaces and veth pairs")
}

// dhcpServer answers DISCOVER/REQUEST like a small EC2 or QEMU server. nakFirst makes it
// refuse the first REQUEST; dropFirst makes it ignore the first n DISCOVERs.
type dhcpServer struct {
	yiaddr    net.IP // default 10.99.0.50
	opts      []dhcpv4.Modifier
	nakFirst  bool
	dropFirst int32
	naks      atomic.Int32
	discovers atomic.Int32
}

func (s *dhcpServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	if m == nil || m.OpCode != dhcpv4.OpcodeBootRequest {
		return
	}
	yi := s.yiaddr
	if yi == nil {
		yi = net.IPv4(10, 99, 0, 50)
	}
	reply, err := dhcpv4.NewReplyFromRequest(m,
		dhcpv4.WithYourIP(yi),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))),
		dhcpv4.WithLeaseTime(3600))
	if err != nil {
		return
	}
	for _, o := range s.opts {
		o(reply)
	}
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		if s.discovers.Add(1) <= s.dropFirst {
			return
		}
		reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		if s.nakFirst && s.naks.Add(1) == 1 {
			reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			reply.UpdateOption(dhcpv4.OptMessage("try again"))
		} else {
			reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
		}
	default:
		return
	}
	conn.WriteTo(reply.ToBytes(), peer)
}

// setupPair makes a client and a server namespace joined by a veth pair (client side
// "bpc0", server side "bps0" with 10.99.0.1/24) and starts the DHCP server.
func setupPair(t *testing.T, srv *dhcpServer) (client *netns, link netconf.Link) {
	t.Helper()
	client, server := newNS(t), newNS(t)
	serverNS.Store(client, server) // dualstack_netns_test.go runs dnsmasq there
	vethPair(t, client, server, "bpc0", "bps0")
	sl, err := server.nl.LinkByName("bps0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.nl.AddrAdd(sl, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 0, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := server.nl.LinkSetUp(sl); err != nil {
		t.Fatal(err)
	}
	serveDHCP(t, server, "bps0", srv)

	cl, err := client.nl.LinkByName("bpc0")
	if err != nil {
		t.Fatal(err)
	}
	return client, toLink(cl)
}

// vethPair adds a veth pair in client (client side cname, server side sname) and moves the
// server side into server.
func vethPair(t *testing.T, client, server *netns, cname, sname string) {
	t.Helper()
	if err := client.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: cname}, PeerName: sname}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	peer, err := client.nl.LinkByName(sname)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.nl.LinkSetNsFd(peer, server.fd); err != nil {
		t.Fatal(err)
	}
}

// serveDHCP serves srv on the server namespace's link sname until the test ends.
func serveDHCP(t *testing.T, server *netns, sname string, srv *dhcpServer) {
	t.Helper()
	var s *server4.Server
	if err := inNS(t, server.fd, func() (err error) {
		s, err = server4.NewServer(sname, &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, srv.handle)
		return err
	}); err != nil {
		t.Fatalf("DHCP server: %v", err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
}

func clientEnv(t *testing.T, ns *netns) *netEnv {
	return &netEnv{
		nl: ns.nl,
		openDHCP: func(ifname string) (c net.PacketConn, err error) {
			err = inNS(t, ns.fd, func() error {
				c, err = nclient4.NewRawUDPConn(ifname, nclient4.ClientPort)
				return err
			})
			return c, err
		},
		resolvConf: filepath.Join(t.TempDir(), "etc", "resolv.conf"),
		subscribeLinks: func(done <-chan struct{}) (<-chan netlink.LinkUpdate, error) {
			ch := make(chan netlink.LinkUpdate, 16)
			h := vnetns.NsHandle(ns.fd)
			return ch, netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &h})
		},
	}
}

// The carrier wait returns on the link event that brings the carrier, without a polling
// loop: the link is down when the wait starts and comes up while it listens.
func TestWaitCarrierEvent(t *testing.T) {
	requireRoot(t)
	client, server := newNS(t), newNS(t)
	vethPair(t, client, server, "bpc0", "bps0")
	cl, err := client.nl.LinkByName("bpc0")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.nl.LinkSetUp(cl); err != nil { // no carrier: the peer is down
		t.Fatal(err)
	}
	env := clientEnv(t, client)
	subscribed := make(chan struct{})
	sub := env.subscribeLinks
	env.subscribeLinks = func(done <-chan struct{}) (<-chan netlink.LinkUpdate, error) {
		ch, err := sub(done)
		close(subscribed)
		return ch, err
	}
	res := make(chan error, 1)
	go func() { res <- waitCarrier(context.Background(), env, cl.Attrs().Index, "bpc0") }()
	select {
	case <-subscribed:
	case err := <-res:
		t.Fatalf("waitCarrier returned without subscribing to link events: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("waitCarrier did not subscribe to link events")
	}
	select {
	case err := <-res:
		t.Fatalf("waitCarrier returned before the carrier came up: %v", err)
	default:
	}
	sl, err := server.nl.LinkByName("bps0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.nl.LinkSetUp(sl); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(carrierTimeout + 5*time.Second):
		t.Fatal("waitCarrier did not return after the carrier came up")
	}
}

func TestDHCPOverVeth(t *testing.T) {
	requireRoot(t)
	oldDHCP := dhcpTimeout
	dhcpTimeout = 15 * time.Second
	t.Cleanup(func() { dhcpTimeout = oldDHCP })

	route121 := dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(169, 254, 169, 254).To4(), Mask: net.CIDRMask(32, 32)}, Router: net.IPv4zero.To4()},
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(10, 200, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}, Router: net.IPv4(10, 99, 0, 254).To4()},
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: net.IPv4(10, 99, 0, 253).To4()},
	))
	for _, tc := range []struct {
		name    string
		srv     *dhcpServer
		gateway string
		mtu     int
		routes  []string // "dst via gw" or "dst dev"
		resolv  string
	}{
		{name: "ec2-like: router, dns, mtu 9001",
			srv: &dhcpServer{opts: []dhcpv4.Modifier{
				dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 99, 0, 1))),
				dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 99, 0, 2))),
				dhcpv4.WithOption(dhcpv4.OptDomainName("ec2.internal")),
				dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x23, 0x29}),
			}},
			gateway: "10.99.0.1", mtu: 9001, routes: []string{"default via 10.99.0.1"},
			resolv: "domain ec2.internal\nnameserver 10.99.0.2\n"},
		{name: "slirp restrict=on: no router, no dns", srv: &dhcpServer{}, mtu: 1500},
		{name: "option 121 over router",
			srv:     &dhcpServer{opts: []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 99, 0, 1))), route121}},
			gateway: "10.99.0.253", mtu: 1500,
			routes: []string{"169.254.169.254/32 dev", "10.200.0.0/16 via 10.99.0.254", "default via 10.99.0.253"}},
		{name: "NAK then ACK", srv: &dhcpServer{nakFirst: true}, mtu: 1500},
		{name: "first discover lost", srv: &dhcpServer{dropFirst: 1}, mtu: 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, link := setupPair(t, tc.srv)
			env := clientEnv(t, ns)
			logs := captureConsole(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			got, err := configure(ctx, env, link, "eth0")
			if err != nil {
				t.Fatalf("configure: %v", err)
			}
			// Applying a good lease warns of nothing (MTU, resolv.conf).
			if strings.Contains(logs.String(), "warning:") {
				t.Errorf("console:\n%s", logs)
			}
			t.Logf("lease in %s: %+v", time.Since(start), got)
			if got.Interface != "eth0" || got.Address != "10.99.0.50/24" || got.Gateway != tc.gateway ||
				got.DHCPServer != "10.99.0.1" || got.LeaseSeconds != 3600 {
				t.Errorf("recorded network = %+v", got)
			}
			l, err := ns.nl.LinkByName("eth0")
			if err != nil {
				t.Fatalf("not renamed to eth0: %v", err)
			}
			if l.Attrs().MTU != tc.mtu {
				t.Errorf("MTU = %d, want %d", l.Attrs().MTU, tc.mtu)
			}
			addrs, _ := ns.nl.AddrList(l, netlink.FAMILY_V4)
			if len(addrs) != 1 || addrs[0].IPNet.String() != "10.99.0.50/24" {
				t.Errorf("addresses = %v", addrs)
			}
			routes, _ := ns.nl.RouteList(l, netlink.FAMILY_V4)
			var rs []string
			for _, r := range routes {
				switch {
				case r.Dst == nil || r.Dst.String() == "0.0.0.0/0":
					rs = append(rs, "default via "+r.Gw.String())
				case r.Dst.String() == "10.99.0.0/24":
					// the connected route
				case r.Gw == nil:
					rs = append(rs, r.Dst.String()+" dev")
				default:
					rs = append(rs, r.Dst.String()+" via "+r.Gw.String())
				}
			}
			sort.Strings(rs)
			sort.Strings(tc.routes)
			if strings.Join(rs, ",") != strings.Join(tc.routes, ",") {
				t.Errorf("routes = %v, want %v", rs, tc.routes)
			}
			b, err := os.ReadFile(env.resolvConf)
			if tc.resolv == "" {
				if err == nil {
					t.Errorf("resolv.conf written without DNS: %q", b)
				}
			} else if !strings.HasSuffix(string(b), tc.resolv) {
				t.Errorf("resolv.conf = %q", b)
			}
			if tc.srv.nakFirst && tc.srv.naks.Load() < 2 {
				t.Errorf("NAK case: %d requests", tc.srv.naks.Load())
			}
		})
	}
}

func TestDHCPNoServerFailsInTime(t *testing.T) {
	requireRoot(t)
	oldDHCP := dhcpTimeout
	dhcpTimeout = 3 * time.Second
	t.Cleanup(func() { dhcpTimeout = oldDHCP })
	ns, link := setupPair(t, &dhcpServer{dropFirst: 1 << 30})
	env := clientEnv(t, ns)
	start := time.Now()
	_, err := configure(context.Background(), env, link, "eth0")
	if err == nil || !strings.Contains(err.Error(), "no DHCP lease") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > dhcpTimeout+3*time.Second {
		t.Fatalf("took %s, budget %s", d, dhcpTimeout)
	}
	t.Logf("failed as expected after %s: %v", time.Since(start), err)
}

func TestSelectionSkipsVeth(t *testing.T) {
	requireRoot(t)
	ns, _ := setupPair(t, &dhcpServer{})
	env := clientEnv(t, ns)
	cands, err := listCandidates(env)
	if err != nil || len(cands) != 0 {
		t.Fatalf("candidates = %v, %v (veth must be skipped)", cands, err)
	}
}

// fakeMACs answers the IMDS paths multi-ENI discovery reads.
type fakeMACs map[string]string

func (f fakeMACs) GetString(ctx context.Context, path string) (string, error) {
	if v, ok := f[path]; ok {
		return v, nil
	}
	return "", errors.New("404")
}

// addPair adds one more veth pair (client side cname, server side sname) between existing
// namespaces and serves DHCP on it.
func addPair(t *testing.T, client, server *netns, cname, sname string, srv *dhcpServer) netconf.Link {
	t.Helper()
	vethPair(t, client, server, cname, sname)
	sl, err := server.nl.LinkByName(sname)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.nl.LinkSetUp(sl); err != nil {
		t.Fatal(err)
	}
	serveDHCP(t, server, sname, srv)
	cl, err := client.nl.LinkByName(cname)
	if err != nil {
		t.Fatal(err)
	}
	return toLink(cl)
}

// Two ENIs; IMDS says the second (higher ifindex) is device 0: it becomes eth0 with a fresh
// lease, the first becomes eth1 and stays unconfigured.
func TestMultiENIByDeviceNumber(t *testing.T) {
	requireRoot(t)
	client, server := newNS(t), newNS(t)
	sA := &dhcpServer{yiaddr: net.IPv4(10, 99, 0, 50), opts: []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 99, 0, 1)))}}
	sB := &dhcpServer{yiaddr: net.IPv4(10, 98, 0, 60)}
	a := addPair(t, client, server, "ens5", "srv5", sA)
	b := addPair(t, client, server, "ens6", "srv6", sB)
	env := clientEnv(t, client)
	env.allowKinds = map[string]bool{"veth": true}
	md := fakeMACs{
		"meta-data/network/interfaces/macs/":                            a.MAC + "/\n" + b.MAC + "/\n",
		"meta-data/network/interfaces/macs/" + a.MAC + "/device-number": "1",
		"meta-data/network/interfaces/macs/" + b.MAC + "/device-number": "0",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := setupNetwork(ctx, env, md)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interface != "eth0" || got.MAC != b.MAC || got.Address != "10.98.0.60/24" ||
		strings.Join(got.OtherIfaces, ",") != "eth1" {
		t.Fatalf("network = %+v", got)
	}
	eth0, err := client.nl.LinkByName("eth0")
	if err != nil || eth0.Attrs().Index != b.Index {
		t.Fatalf("eth0 = %v, %v", eth0, err)
	}
	eth1, err := client.nl.LinkByName("eth1")
	if err != nil || eth1.Attrs().Index != a.Index {
		t.Fatalf("eth1 = %v, %v", eth1, err)
	}
	if addrs, _ := client.nl.AddrList(eth1, netlink.FAMILY_V4); len(addrs) != 0 {
		t.Fatalf("eth1 kept the bootstrap address: %v", addrs)
	}
	if routes, _ := client.nl.RouteList(eth1, netlink.FAMILY_V4); len(routes) != 0 {
		t.Fatalf("eth1 kept bootstrap routes: %v", routes)
	}
}

// Two ENIs already named as IMDS numbers them (eth0 is device 0, eth1 device 1): the
// bootstrap configuration of eth0 is kept, with one DHCP exchange, and eth1 is left alone.
func TestMultiENIAlreadyInPlace(t *testing.T) {
	requireRoot(t)
	client, server := newNS(t), newNS(t)
	sA := &dhcpServer{yiaddr: net.IPv4(10, 99, 0, 50)}
	sB := &dhcpServer{yiaddr: net.IPv4(10, 98, 0, 60)}
	logs := captureConsole(t)
	a := addPair(t, client, server, "eth0", "srv5", sA)
	b := addPair(t, client, server, "eth1", "srv6", sB)
	env := clientEnv(t, client)
	env.allowKinds = map[string]bool{"veth": true}
	md := fakeMACs{
		"meta-data/network/interfaces/macs/":                            a.MAC + "/\n" + b.MAC + "/\n",
		"meta-data/network/interfaces/macs/" + a.MAC + "/device-number": "0",
		"meta-data/network/interfaces/macs/" + b.MAC + "/device-number": "1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := setupNetwork(ctx, env, md)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interface != "eth0" || got.MAC != a.MAC || got.Address != "10.99.0.50/24" || strings.Join(got.OtherIfaces, ",") != "eth1" {
		t.Fatalf("network = %+v", got)
	}
	// One lease, on eth0; none asked for on eth1.
	if n, m := strings.Count(logs.String(), "network: eth0 10.99.0.50/24"), sB.discovers.Load(); n != 1 || m != 0 {
		t.Fatalf("eth0 configured %d times, %d DHCP discovers on eth1; want 1, 0\n%s", n, m, logs)
	}
}

// IMDS unreachable: the bootstrap interface becomes eth0 with a lease.
func TestMultiENIDiscoveryFails(t *testing.T) {
	requireRoot(t)
	client, server := newNS(t), newNS(t)
	a := addPair(t, client, server, "ens5", "srv5", &dhcpServer{yiaddr: net.IPv4(10, 99, 0, 50)})
	addPair(t, client, server, "ens6", "srv6", &dhcpServer{yiaddr: net.IPv4(10, 98, 0, 60)})
	env := clientEnv(t, client)
	env.allowKinds = map[string]bool{"veth": true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := setupNetwork(ctx, env, fakeMACs{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Interface != "eth0" || got.MAC != a.MAC || got.Address != "10.99.0.50/24" {
		t.Fatalf("network = %+v", got)
	}
}

// The loopback of a fresh network namespace starts down: loopbackUp brings it up, quietly.
func TestLoopbackUp(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	logs := captureConsole(t)
	lo, err := ns.nl.LinkByName("lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp != 0 {
		t.Fatalf("fresh namespace: lo %+v, %v; want it down", lo, err)
	}
	loopbackUp(&netEnv{nl: ns.nl})
	if lo, err = ns.nl.LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("lo not up: %v", err)
	}
	if s := logs.String(); s != "" {
		t.Fatalf("console: %q", s)
	}
}

// With no interface, the NIC drivers are loaded and the interface they make appear is used;
// with one already there, no driver is loaded.
func TestCandidatesLoadDriversOnlyWhenNoLink(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	logs := captureConsole(t)
	calls := 0
	// The "driver" makes a veth pair: eth5, and its peer veth5p (skipped for its name).
	env := &netEnv{nl: ns.nl, allowKinds: map[string]bool{"veth": true}, loadModules: func() ([]string, error) {
		calls++
		return []string{"fake_nic"}, ns.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth5"}, PeerName: "veth5p"})
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, want := range []int{1, 1} {
		c, err := candidates(ctx, env)
		if err != nil || len(c) != 1 || c[0].Name != "eth5" || calls != want {
			t.Fatalf("call %d: candidates %v, %v; drivers loaded %d times, want %d\n%s", i+1, c, err, calls, want, logs)
		}
	}
	if !strings.Contains(logs.String(), "network: loaded NIC drivers [fake_nic]") {
		t.Errorf("console: %q", logs.String())
	}
}
