package stage1

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/bootplan/bootplan/internal/backoff"
	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/plan"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network timing. Carrier: as easyto. DHCP: one overall budget with retries inside.
var (
	carrierTimeout = 10 * time.Second
	dhcpTimeout    = 30 * time.Second
	linkAppearWait = 10 * time.Second
)

// netEnv is what the network code touches: a netlink handle (bound to one network
// namespace), a way to open the DHCP socket on an interface, and where resolv.conf lives.
// Tests point all three at a namespace of their own.
type netEnv struct {
	nl          *netlink.Handle
	openDHCP    func(ifname string) (net.PacketConn, error)
	resolvConf  string
	loadModules func() ([]string, error)
	// allowKinds admits links of these virtual kinds as candidates (tests use veth).
	allowKinds map[string]bool
	// IPv6 (dhcp6_linux.go): prepare6 sets an interface's IPv6 sysctls and says whether it
	// has IPv6 (nil = IPv4 only: the older veth tests), ns the namespace netlink
	// subscriptions follow (nil = ours), openDHCP6 the DHCPv6 socket.
	prepare6  func(ifname string) bool
	ns        *vnetns.NsHandle
	openDHCP6 func(ifname string) (net.PacketConn, error)
	// bootstrapped, when set, sees the bootstrap interface's configuration before IMDS is
	// asked for device numbers (stage one picks the IMDS address family there).
	bootstrapped func(plan.Network)
}

func realNetEnv() (*netEnv, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &netEnv{
		nl: h,
		openDHCP: func(ifname string) (net.PacketConn, error) {
			return nclient4.NewRawUDPConn(ifname, nclient4.ClientPort)
		},
		resolvConf:  "/etc/resolv.conf",
		loadModules: func() ([]string, error) { return loadNICModules("/") },
		prepare6:    func(ifname string) bool { return prepareIPv6("/proc/sys", ifname) },
		openDHCP6:   openDHCP6Real,
	}, nil
}

// macLister is the IMDS part multi-ENI discovery needs.
type macLister interface {
	GetString(ctx context.Context, path string) (string, error)
}

// setupNetwork selects the primary interface, configures it from DHCP and returns what it
// configured.
func setupNetwork(ctx context.Context, env *netEnv, md macLister) (plan.Network, error) {
	loopbackUp(env)
	cands, err := candidates(ctx, env)
	if err != nil {
		return plan.Network{}, err
	}
	if len(cands) == 1 {
		return configure(ctx, env, cands[0], "eth0")
	}

	// Several ENIs: configure the lowest ifindex to reach IMDS, then ask IMDS which is which.
	boot := cands[0]
	console.Infof("network: %d interfaces; bootstrapping on %s to ask IMDS for device numbers", len(cands), boot.Name)
	res, err := configure(ctx, env, boot, boot.Name)
	if err != nil {
		return plan.Network{}, err
	}
	if env.bootstrapped != nil {
		env.bootstrapped(res)
	}
	devnum, derr := deviceNumbers(ctx, md)
	var eni netconf.ENIPlan
	if derr == nil {
		eni, derr = netconf.PlanENIs(cands, devnum)
		if derr != nil {
			return plan.Network{}, derr // device numbers known but none is 0: not EC2 as we know it
		}
	}
	if derr != nil {
		console.Warnf("IMDS device-number discovery failed: %v; using %s as primary", derr, boot.Name)
		eni = netconf.ENIPlan{Primary: boot, Renames: []netconf.Rename{{Index: boot.Index, From: boot.Name, To: "eth0"}}}
		eni.Primary.Name = "eth0"
		for _, c := range cands[1:] {
			eni.Others = append(eni.Others, c.Name)
		}
	}
	if eni.Primary.Index == boot.Index && boot.Name == "eth0" && len(eni.Renames) == 0 {
		res.OtherIfaces = eni.Others
		return res, nil
	}
	// Tear the bootstrap configuration down, rename, and configure the primary afresh.
	unconfigure(env, boot.Index)
	for _, r := range eni.Renames {
		if err := rename(env, r.Index, r.To); err != nil {
			if r.Index == eni.Primary.Index {
				return plan.Network{}, err
			}
			console.Warnf("network: %v", err)
		}
	}
	res, err = configure(ctx, env, eni.Primary, "eth0")
	res.OtherIfaces = eni.Others
	return res, err
}

func loopbackUp(env *netEnv) {
	lo, err := env.nl.LinkByName("lo")
	if err == nil {
		err = env.nl.LinkSetUp(lo)
	}
	if err != nil {
		console.Warnf("network: loopback up: %v", err)
	}
}

// candidates lists the candidate links, loading NIC driver modules and waiting for a link
// when there is none yet.
func candidates(ctx context.Context, env *netEnv) ([]netconf.Link, error) {
	cands, err := listCandidates(env)
	if err != nil || len(cands) > 0 {
		return cands, err
	}
	if env.loadModules != nil {
		loaded, err := env.loadModules()
		if err != nil {
			console.Warnf("network: no interface yet and loading NIC drivers failed: %v", err)
		} else if len(loaded) > 0 {
			console.Infof("network: loaded NIC drivers %v", loaded)
		}
	}
	deadline := time.Now().Add(linkAppearWait)
	for {
		cands, err := listCandidates(env)
		if err != nil {
			return nil, err
		}
		if len(cands) > 0 {
			// Drivers probe their devices one after another: give the others a moment to
			// appear so several ENIs are not mistaken for one.
			sleepCtx(ctx, 200*time.Millisecond)
			return listCandidates(env)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no usable network interface found (waited %s after loading NIC drivers)", linkAppearWait)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, fmt.Errorf("no usable network interface found: %w", ctx.Err())
		}
	}
}

func listCandidates(env *netEnv) ([]netconf.Link, error) {
	links, err := env.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list network links: %w", err)
	}
	var ls []netconf.Link
	for _, l := range links {
		nl := toLink(l)
		if env.allowKinds[nl.Kind] {
			nl.Kind = ""
		}
		ls = append(ls, nl)
	}
	cands, warns := netconf.Candidates(ls)
	for _, w := range warns {
		console.Warnf("network: %s", w)
	}
	return cands, nil
}

func toLink(l netlink.Link) netconf.Link {
	a := l.Attrs()
	kind := l.Type()
	if kind == "device" {
		kind = ""
	}
	mac := ""
	if len(a.HardwareAddr) == 6 {
		mac = a.HardwareAddr.String()
	}
	return netconf.Link{Index: a.Index, Name: a.Name, Kind: kind, MAC: mac}
}

// rename gives link idx the name to, first moving away any other link holding it.
func rename(env *netEnv, idx int, to string) error {
	l, err := env.nl.LinkByIndex(idx)
	if err != nil {
		return fmt.Errorf("rename ifindex %d to %s: %w", idx, to, err)
	}
	if l.Attrs().Name == to {
		return nil
	}
	if other, err := env.nl.LinkByName(to); err == nil && other.Attrs().Index != idx {
		var names []string
		if all, err := env.nl.LinkList(); err == nil {
			for _, x := range all {
				names = append(names, x.Attrs().Name)
			}
		}
		free := netconf.FreeEthName(names)
		_ = env.nl.LinkSetDown(other)
		if err := env.nl.LinkSetName(other, free); err != nil {
			return fmt.Errorf("rename %s out of the way to %s: %w", to, free, err)
		}
	}
	_ = env.nl.LinkSetDown(l)
	if err := env.nl.LinkSetName(l, to); err != nil {
		return fmt.Errorf("rename %s to %s: %w", l.Attrs().Name, to, err)
	}
	console.Infof("network: renamed %s to %s", l.Attrs().Name, to)
	return nil
}

// configure renames the link to name (when different), brings it up, waits for carrier,
// runs DHCP and applies the lease.
func configure(ctx context.Context, env *netEnv, c netconf.Link, name string) (plan.Network, error) {
	if c.Name != name {
		if err := rename(env, c.Index, name); err != nil {
			return plan.Network{}, err
		}
	}
	l, err := env.nl.LinkByIndex(c.Index)
	if err != nil {
		return plan.Network{}, fmt.Errorf("%s: %w", name, err)
	}
	v6 := env.prepare6 != nil && env.prepare6(name) // before up: the kernel starts IPv6 with it
	if err := env.nl.LinkSetUp(l); err != nil {
		return plan.Network{}, fmt.Errorf("%s: set up: %w", name, err)
	}
	start := time.Now()
	if err := waitCarrier(ctx, env, c.Index, name); err != nil {
		return plan.Network{}, err
	}
	console.Debugf("network: %s carrier after %s", name, console.Duration(time.Since(start)))
	if !v6 {
		lease, err := configure4(ctx, env, c, name)
		if err != nil {
			return plan.Network{}, err
		}
		n := recordNetwork(name, c.MAC, lease)
		n.Families = []string{"ipv4"}
		return n, nil
	}
	return configureDual(ctx, env, c, name) // dualstack_linux.go
}

// configure4 runs DHCPv4 on the link and applies the lease.
func configure4(ctx context.Context, env *netEnv, c netconf.Link, name string) (netconf.Lease, error) {
	start := time.Now()
	mac, _ := net.ParseMAC(c.MAC)
	ack, err := dhcpLease(ctx, env, name, mac)
	if err != nil {
		return netconf.Lease{}, err
	}
	lease, err := netconf.Interpret(ack)
	if err != nil {
		return netconf.Lease{}, fmt.Errorf("%s: %w", name, err)
	}
	for _, n := range lease.Notes {
		console.Infof("network: %s: %s", name, n)
	}
	if err := applyLease(env, c.Index, lease); err != nil {
		return netconf.Lease{}, fmt.Errorf("%s: %w", name, err)
	}
	console.Infof("network: %s %s in %s", name, lease.Summary(), console.Duration(time.Since(start)))
	return lease, nil
}

func recordNetwork(name, mac string, l netconf.Lease) plan.Network {
	n := plan.Network{
		Configured:   true,
		Interface:    name,
		MAC:          mac,
		Address:      l.Address.String(),
		MTU:          l.MTU,
		Domain:       l.Domain,
		Search:       l.Search,
		LeaseSeconds: int(l.LeaseTime / time.Second),
	}
	if l.Gateway.IsValid() {
		n.Gateway = l.Gateway.String()
	}
	if l.Server.IsValid() {
		n.DHCPServer = l.Server.String()
	}
	for _, d := range l.DNS {
		n.DNS = append(n.DNS, d.String())
	}
	for _, r := range l.Routes {
		if r.Dst.Bits() == 0 {
			continue // the default route is Gateway
		}
		gw := ""
		if r.Gateway.IsValid() && !r.Gateway.IsUnspecified() {
			gw = r.Gateway.String()
		}
		n.Routes = append(n.Routes, plan.Route{Destination: r.Dst.String(), Gateway: gw})
	}
	return n
}

// waitCarrier polls the link until it reports lower-up, bounded by carrierTimeout.
func waitCarrier(ctx context.Context, env *netEnv, idx int, name string) error {
	deadline := time.Now().Add(carrierTimeout)
	for {
		l, err := env.nl.LinkByIndex(idx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 || l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: carrier never came up (waited %s)", name, carrierTimeout)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return fmt.Errorf("%s: waiting for carrier: %w", name, ctx.Err())
		}
	}
}

// dhcpLease runs DISCOVER/OFFER/REQUEST/ACK with retries and backoff inside dhcpTimeout.
// A watchdog abandons the exchange if it overruns (the library has blocked on the random
// pool before; stage one builds its own packets to avoid that, and keeps the watchdog).
func dhcpLease(ctx context.Context, env *netEnv, ifname string, mac net.HardwareAddr) (*dhcpv4.DHCPv4, error) {
	conn, err := env.openDHCP(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: DHCP socket: %w", ifname, err)
	}
	// Each wait is bounded by the attempt's context, not by the client's own timer.
	client, err := nclient4.NewWithConn(conn, mac, nclient4.WithRetry(1), nclient4.WithTimeout(dhcpTimeout))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: DHCP client: %w", ifname, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dhcpTimeout)
	defer cancel()
	type result struct {
		ack *dhcpv4.DHCPv4
		err error
	}
	res := make(chan result, 1)
	go func() {
		// This goroutine is not the step's: a panic here (answers from the network are
		// parsed on it) would kill PID 1 past the step runner's recover.
		defer func() {
			if p := recover(); p != nil {
				console.Debugf("network: %s: DHCP exchange panicked: %v\n%s", ifname, p, debug.Stack())
				res <- result{nil, fmt.Errorf("%s: DHCP exchange panicked: %v", ifname, p)}
			}
		}()
		ack, err := dhcpExchange(ctx, client, ifname, mac)
		res <- result{ack, err}
	}()
	select {
	case r := <-res:
		client.Close()
		return r.ack, r.err
	case <-time.After(dhcpTimeout + 2*time.Second):
		conn.Close() // unblocks the exchange if it is stuck in the socket
		return nil, fmt.Errorf("%s: DHCP watchdog: no lease within %s", ifname, dhcpTimeout)
	}
}

func dhcpExchange(ctx context.Context, c *nclient4.Client, ifname string, mac net.HardwareAddr) (*dhcpv4.DHCPv4, error) {
	var last error
	for attempt := 0; ; attempt++ {
		// Each attempt waits 0.5, 1, 2, 4, 4... s for each answer. The first is short: a link
		// that just came up may drop the very first packet (its qdisc is attached late).
		wait := min(500*time.Millisecond<<min(attempt, 3), 4*time.Second)
		ack, err := doraOnce(ctx, c, mac, xidSeed(mac, attempt), wait)
		if err == nil {
			if attempt > 0 {
				console.Infof("network: %s: DHCP lease on attempt %d", ifname, attempt+1)
			}
			return ack, nil
		}
		last = err
		console.Debugf("network: %s: DHCP attempt %d: %v", ifname, attempt+1, err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: no DHCP lease within %s after %d attempts: %w", ifname, dhcpTimeout, attempt+1, last)
		}
		if !sleepCtx(ctx, backoff.Delay(200*time.Millisecond, 1600*time.Millisecond, attempt)) {
			return nil, fmt.Errorf("%s: no DHCP lease within %s after %d attempts: %w", ifname, dhcpTimeout, attempt+1, last)
		}
	}
}

func doraOnce(ctx context.Context, c *nclient4.Client, mac net.HardwareAddr, seed uint64, wait time.Duration) (*dhcpv4.DHCPv4, error) {
	xid := netconf.TransactionID(seed)
	actx, cancel := context.WithTimeout(ctx, wait)
	offer, err := c.SendAndRead(actx, c.RemoteAddr(), netconf.Discover(xid, mac), nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("no offer within %s: %w", wait, err)
	}
	if offer.ServerIdentifier() == nil {
		return nil, errors.New("offer without server identifier (option 54)")
	}
	actx, cancel = context.WithTimeout(ctx, wait)
	defer cancel()
	ack, err := c.SendAndRead(actx, c.RemoteAddr(), netconf.Request(xid, mac, offer), nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("no acknowledgement from %s within %s: %w", offer.ServerIdentifier(), wait, err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		msg := ack.Message()
		if msg == "" {
			msg = "no reason given"
		}
		return nil, fmt.Errorf("server %s refused the request (NAK: %s)", offer.ServerIdentifier(), msg)
	}
	return ack, nil
}

// xidSeed mixes a non-blocking read of the random pool (when it works), the clock, the MAC
// and the attempt: never blocks, rarely collides.
func xidSeed(mac net.HardwareAddr, attempt int) uint64 {
	var b [8]byte
	var r uint64
	if n, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK); err == nil && n == 8 {
		r = binary.LittleEndian.Uint64(b[:])
	}
	var m [8]byte
	copy(m[:], mac)
	return r ^ uint64(time.Now().UnixNano()) ^ binary.LittleEndian.Uint64(m[:]) ^ uint64(attempt)<<56
}

// applyLease sets MTU, address, routes and resolv.conf.
func applyLease(env *netEnv, idx int, l netconf.Lease) error {
	link, err := env.nl.LinkByIndex(idx)
	if err != nil {
		return err
	}
	if l.MTU > 0 && l.MTU != link.Attrs().MTU {
		if err := env.nl.LinkSetMTU(link, l.MTU); err != nil {
			console.Warnf("network: %s: set MTU %d: %v", link.Attrs().Name, l.MTU, err)
		}
	}
	addr := &netlink.Addr{IPNet: prefixNet(l.Address)}
	if err := env.nl.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("add address %s: %w", l.Address, err)
	}
	for _, r := range l.Routes {
		rt := &netlink.Route{LinkIndex: idx, Dst: prefixNet(r.Dst)}
		if !r.Gateway.IsValid() || r.Gateway.IsUnspecified() {
			rt.Scope = netlink.SCOPE_LINK
		} else {
			rt.Gw = net.IP(r.Gateway.AsSlice())
			if !l.OnLink(r.Gateway) {
				rt.Flags = int(netlink.FLAG_ONLINK)
			}
		}
		if err := env.nl.RouteReplace(rt); err != nil {
			return fmt.Errorf("add route %s: %w", r, err)
		}
	}
	if text := netconf.ResolvConf(l); text != "" {
		if err := writeFile(env.resolvConf, []byte(text), 0o644); err != nil {
			console.Warnf("resolv.conf: %v", err)
		}
	}
	return nil
}

// unconfigure removes the IPv4 addresses (and with them the routes) of a link and sets it down.
func unconfigure(env *netEnv, idx int) {
	l, err := env.nl.LinkByIndex(idx)
	if err != nil {
		return
	}
	if addrs, err := env.nl.AddrList(l, netlink.FAMILY_V4); err == nil {
		for _, a := range addrs {
			_ = env.nl.AddrDel(l, &a)
		}
	}
	_ = env.nl.LinkSetDown(l)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// deviceNumbers asks IMDS for each ENI's device number, keyed by lowercase MAC.
func deviceNumbers(ctx context.Context, md macLister) (map[string]int, error) {
	if md == nil {
		return nil, errors.New("no IMDS client")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	body, err := md.GetString(ctx, "meta-data/network/interfaces/macs/")
	if err != nil {
		return nil, err
	}
	macs := netconf.ParseMACs(body)
	if len(macs) == 0 {
		return nil, errors.New("IMDS lists no MACs")
	}
	out := map[string]int{}
	for _, m := range macs {
		s, err := md.GetString(ctx, "meta-data/network/interfaces/macs/"+m+"/device-number")
		if err != nil {
			console.Debugf("network: device-number of %s: %v", m, err)
			continue
		}
		n, err := netconf.ParseDeviceNumber(s)
		if err != nil {
			console.Debugf("network: %s: %v", m, err)
			continue
		}
		out[m] = n
	}
	if len(out) == 0 {
		return nil, errors.New("IMDS gave no device numbers")
	}
	return out, nil
}

// sleepCtx waits d; false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool { return backoff.Sleep(ctx, d) == nil }
