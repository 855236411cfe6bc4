package stage1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// IPv6 timing. ipv6Timeout bounds the whole IPv6 side (router advertisement, DHCPv6); the
// DHCPv6 exchange retries inside it. slaacGrace is how long DHCPv6 still gets once a router
// and a SLAAC address are there (a subnet without DHCPv6 must not wait ipv6Timeout).
var (
	ipv6Timeout = 20 * time.Second
	slaacGrace  = time.Second
)

// ipv6Sysctls are set on the primary interface before it comes up: accept router
// advertisements (also if forwarding is on), autoconfigure from them, and skip duplicate
// address detection so the link-local address (DHCPv6's source) and the addresses are usable
// at once (EC2 assigns every address; nothing else on the link can hold it).
var ipv6Sysctls = [][2]string{{"disable_ipv6", "0"}, {"accept_ra", "2"}, {"autoconf", "1"}, {"accept_dad", "0"}}

// prepareIPv6 sets ipv6Sysctls for ifname; false when IPv6 is unavailable (no
// /proc/sys/net/ipv6: a kernel without IPv6).
func prepareIPv6(procSys, ifname string) bool {
	dir := filepath.Join(procSys, "net/ipv6/conf", ifname)
	if _, err := os.Stat(dir); err != nil {
		console.Infof("network: %s: no IPv6 (%v)", ifname, err)
		return false
	}
	for _, kv := range ipv6Sysctls {
		if err := os.WriteFile(filepath.Join(dir, kv[0]), []byte(kv[1]), 0o644); err != nil {
			console.Warnf("network: %s: IPv6 sysctl %s=%s: %v", ifname, kv[0], kv[1], err)
		}
	}
	return true
}

// result6 is what the IPv6 side configured.
type result6 struct {
	lease   *netconf.Lease6 // nil: SLAAC only
	addrs   []netip.Prefix  // global addresses on the link (DHCPv6 /128, SLAAC /64)
	gateway netip.Addr      // default router from the RA; invalid when the RA gave none
}

// configure6 brings up IPv6 on the link: it follows address and route events over netlink
// (no polling), starts DHCPv6 as soon as the link-local address exists, and is done when the
// link has a global address (DHCPv6's; or SLAAC's, at once when the router advertisement has
// no managed flag, else once DHCPv6 had slaacGrace) and a route
// from a router advertisement. It reports progress to the caller's bounded waits: ev.linkLocal
// is closed when the kernel has IPv6 up on the link (the router solicitation goes out then),
// ev.router at the first route from a router advertisement.
func configure6(ctx context.Context, env *netEnv, c netconf.Link, name string, ev events6) (result6, error) {
	ctx, cancel := context.WithTimeout(ctx, ipv6Timeout)
	defer cancel()
	done := make(chan struct{})
	addrCh := make(chan netlink.AddrUpdate, 64)
	routeCh := make(chan raRoute, 64)
	defer func() {
		close(done)
		// The subscriptions' goroutines send until their sockets close: drain them.
		go func() {
			for range addrCh {
			}
		}()
		go func() {
			for range routeCh {
			}
		}()
	}()
	errCb := func(err error) {
		select {
		case <-done: // the socket closed under the reader: expected
		default:
			console.Debugf("network: %s: netlink subscription: %v", name, err)
		}
	}
	if err := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{Namespace: env.ns, ListExisting: true, ErrorCallback: errCb}); err != nil {
		return result6{}, fmt.Errorf("%s: IPv6 address events: %w", name, err)
	}
	if err := subscribeRARoutes(env.ns, done, routeCh, errCb); err != nil {
		return result6{}, fmt.Errorf("%s: IPv6 route events: %w", name, err)
	}

	var (
		res         result6
		router      bool
		slaacOnly   bool // the router advertisement had no managed flag: no DHCPv6 to wait for
		dhcpStarted bool
		dhcpDone    bool
		dhcpErr     error
		grace       <-chan time.Time
		global      = map[netip.Prefix]bool{}
	)
	dhcpRes := make(chan dhcp6Result, 1)
	mac, _ := net.ParseMAC(c.MAC)
	for {
		// Done: a router and a global address; DHCPv6 has answered, failed, or had its grace.
		if router && dhcpDone && res.lease != nil {
			break
		}
		if router && len(global) > 0 && (dhcpDone || slaacOnly) {
			break
		}
		if router && len(global) > 0 && grace == nil {
			grace = time.After(slaacGrace)
		}
		select {
		case u, ok := <-addrCh:
			if !ok {
				return res, fmt.Errorf("%s: IPv6 address events ended", name)
			}
			if u.LinkIndex != c.Index {
				continue
			}
			a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok || !a.Is6() || a.Is4In6() {
				continue
			}
			ones, _ := u.LinkAddress.Mask.Size()
			p := netip.PrefixFrom(a, ones)
			switch {
			case a.IsLinkLocalUnicast():
				if u.NewAddr && u.Flags&unix.IFA_F_TENTATIVE == 0 && !dhcpStarted {
					console.Debugf("network: %s: link-local %s; starting DHCPv6", name, a)
					close(ev.linkLocal)
					dhcpStarted = true
					go runDHCP6(ctx, env, name, mac, dhcpRes)
				}
			case u.NewAddr:
				global[p] = true
			default:
				delete(global, p)
			}
		case u, ok := <-routeCh:
			if !ok {
				return res, fmt.Errorf("%s: IPv6 route events ended", name)
			}
			if u.index != c.Index {
				continue
			}
			if !router {
				console.Debugf("network: %s: router advertisement (default route %v)", name, u.dflt)
				router = true
				close(ev.router)
				if m, err := raManaged(env.ns, c.Index); err != nil {
					console.Debugf("network: %s: router advertisement flags: %v", name, err)
				} else {
					slaacOnly = !m
					console.Debugf("network: %s: router advertisement managed flag: %v", name, m)
				}
			}
			if u.dflt && u.gateway.IsValid() {
				res.gateway = u.gateway
			}
		case r := <-dhcpRes:
			dhcpDone = true
			dhcpErr = r.err
			if r.err != nil {
				console.Debugf("network: %s: DHCPv6: %v", name, r.err)
				continue
			}
			if err := applyLease6(env, c.Index, r.lease); err != nil {
				dhcpErr = fmt.Errorf("%s: %w", name, err)
				continue
			}
			l := r.lease
			res.lease = &l
			global[l.Address] = true
		case <-grace:
			dhcpDone = true // SLAAC is what this subnet offers
			if dhcpErr == nil {
				dhcpErr = fmt.Errorf("no DHCPv6 answer within %s of the SLAAC address", slaacGrace)
			}
		case <-ctx.Done():
			what := "no router advertisement"
			switch {
			case router && dhcpErr != nil:
				what = "router advertisement but no address (DHCPv6: " + dhcpErr.Error() + ")"
			case router:
				what = "router advertisement but no address yet"
			case len(global) > 0:
				what = "an address but no router advertisement"
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return res, fmt.Errorf("%s: IPv6: %s within %s", name, what, ipv6Timeout)
			}
			return res, fmt.Errorf("%s: IPv6: %s: %w", name, what, ctx.Err())
		}
	}
	for p := range global {
		res.addrs = append(res.addrs, p)
	}
	sortPrefixes(res.addrs)
	switch {
	case res.lease == nil && slaacOnly:
		console.Infof("network: %s: IPv6 by SLAAC (the router advertisement does not ask for DHCPv6)", name)
	case res.lease == nil && dhcpErr != nil:
		console.Infof("network: %s: IPv6 by SLAAC only (%v)", name, dhcpErr)
	}
	return res, nil
}

func sortPrefixes(ps []netip.Prefix) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Addr().Less(ps[j-1].Addr()); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// events6 are configure6's progress signals, each closed once.
type events6 struct{ linkLocal, router chan struct{} }

type dhcp6Result struct {
	lease netconf.Lease6
	err   error
}

// runDHCP6 runs SOLICIT/ADVERTISE/REQUEST/REPLY with retries until it has a lease or ctx
// ends, and sends one result.
func runDHCP6(ctx context.Context, env *netEnv, ifname string, mac net.HardwareAddr, out chan<- dhcp6Result) {
	defer func() {
		// Answers from the network are parsed on this goroutine: a panic must not kill PID 1.
		if p := recover(); p != nil {
			console.Debugf("network: %s: DHCPv6 exchange panicked: %v\n%s", ifname, p, debug.Stack())
			out <- dhcp6Result{err: fmt.Errorf("DHCPv6 exchange panicked: %v", p)}
		}
	}()
	conn, err := env.openDHCP6(ifname)
	if err != nil {
		out <- dhcp6Result{err: fmt.Errorf("DHCPv6 socket: %w", err)}
		return
	}
	client, err := nclient6.NewWithConn(conn, mac, nclient6.WithRetry(1), nclient6.WithTimeout(ipv6Timeout))
	if err != nil {
		conn.Close()
		out <- dhcp6Result{err: fmt.Errorf("DHCPv6 client: %w", err)}
		return
	}
	defer client.Close()
	var last error
	for attempt := 0; ; attempt++ {
		wait := min(time.Second<<min(attempt, 2), 4*time.Second)
		l, err := dhcp6Once(ctx, client, mac, xidSeed(mac, attempt), wait)
		if err == nil {
			out <- dhcp6Result{lease: l}
			return
		}
		last = err
		console.Debugf("network: %s: DHCPv6 attempt %d: %v", ifname, attempt+1, err)
		if ctx.Err() != nil {
			out <- dhcp6Result{err: fmt.Errorf("no DHCPv6 lease after %d attempts: %w", attempt+1, last)}
			return
		}
	}
}

func dhcp6Once(ctx context.Context, c *nclient6.Client, mac net.HardwareAddr, seed uint64, wait time.Duration) (netconf.Lease6, error) {
	xid := netconf.TransactionID6(seed)
	actx, cancel := context.WithTimeout(ctx, wait)
	adv, err := c.SendAndRead(actx, c.RemoteAddr(), netconf.Solicit6(xid, mac), nclient6.IsMessageType(dhcpv6.MessageTypeAdvertise))
	cancel()
	if err != nil {
		return netconf.Lease6{}, fmt.Errorf("no ADVERTISE within %s: %w", wait, err)
	}
	req, err := netconf.Request6(xid, mac, adv)
	if err != nil {
		return netconf.Lease6{}, err
	}
	actx, cancel = context.WithTimeout(ctx, wait)
	defer cancel()
	reply, err := c.SendAndRead(actx, c.RemoteAddr(), req, nclient6.IsMessageType(dhcpv6.MessageTypeReply))
	if err != nil {
		return netconf.Lease6{}, fmt.Errorf("no REPLY within %s: %w", wait, err)
	}
	return netconf.Interpret6(reply)
}

// applyLease6 adds the DHCPv6 address (a /128: the on-link prefix is the RA's business).
func applyLease6(env *netEnv, idx int, l netconf.Lease6) error {
	link, err := env.nl.LinkByIndex(idx)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: prefixNet(l.Address), Flags: unix.IFA_F_NODAD}
	if l.Valid > 0 && l.Valid < 1<<31*time.Second {
		a.ValidLft = int(l.Valid / time.Second)
		a.PreferedLft = int(min(l.Preferred, l.Valid) / time.Second)
	}
	if err := env.nl.AddrReplace(link, a); err != nil {
		return fmt.Errorf("add address %s: %w", l.Address, err)
	}
	return nil
}

func openDHCP6Real(ifname string) (net.PacketConn, error) {
	return nclient6.NewIPv6UDPConn(ifname, dhcpv6.DefaultClientPort)
}
