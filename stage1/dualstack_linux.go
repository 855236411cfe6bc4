package stage1

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/plan"
)

// Dual-stack timing: DHCPv4 and IPv6 run at once; the first family that works lets the boot
// go on after a bounded wait for the other, so an IPv6-only subnet (no DHCPv4 answer, ever)
// costs v4AfterV6Wait, not the DHCPv4 budget.
//
// After IPv4, IPv6 gets: until the kernel has IPv6 up on the link (its link-local address;
// link state changes reach IPv6 up to a second after carrier), at most llAfterV4Wait; then a
// router advertisement answering the router solicitation sent at that moment, at most
// raAfterLLWait (an IPv4-only subnet has no router advertising: this is its whole cost); then
// the address (DHCPv6), at most v6AfterRAWait.
var (
	llAfterV4Wait = 2 * time.Second
	raAfterLLWait = time.Second
	v6AfterRAWait = 4 * time.Second
	v4AfterV6Wait = 2 * time.Second // IPv6 is up and DHCPv4 has not answered
	abandonWait   = 5 * time.Second // after cancelling the slower family, how long it gets to stop
)

// configureDual configures DHCPv4 and IPv6 on the link concurrently and records both.
func configureDual(ctx context.Context, env *netEnv, c netconf.Link, name string) (plan.Network, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	type res4 struct {
		lease netconf.Lease
		err   error
	}
	type res6 struct {
		res result6
		err error
	}
	ch4, ch6 := make(chan res4, 1), make(chan res6, 1)
	ev := events6{linkLocal: make(chan struct{}), router: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				console.Debugf("network: %s: IPv4 panicked: %v\n%s", name, p, debug.Stack())
				ch4 <- res4{err: fmt.Errorf("%s: IPv4 panicked: %v", name, p)}
			}
		}()
		l, err := configure4(ctx, env, c, name)
		ch4 <- res4{l, err}
	}()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				console.Debugf("network: %s: IPv6 panicked: %v\n%s", name, p, debug.Stack())
				ch6 <- res6{err: fmt.Errorf("%s: IPv6 panicked: %v", name, p)}
			}
		}()
		r, err := configure6(ctx, env, c, name, ev)
		ch6 <- res6{r, err}
	}()

	var (
		got4       *netconf.Lease
		got6       *result6
		err4, err6 error
		pend4      = ch4
		pend6      = ch6
		linkLocal  = (<-chan struct{})(ev.linkLocal)
		router     = (<-chan struct{})(ev.router)
		seenLL     bool
		seenRA     bool
		deadline   <-chan time.Time
		waiting    string // the family the deadline is for
		abandoned  bool
	)
	for pend4 != nil || pend6 != nil {
		select {
		case r := <-pend4:
			pend4 = nil
			if r.err != nil {
				err4 = r.err
				break
			}
			got4 = &r.lease
			if pend6 != nil && !abandoned {
				wait := llAfterV4Wait
				switch {
				case seenRA:
					wait = v6AfterRAWait
				case seenLL:
					wait = raAfterLLWait
				}
				deadline, waiting = time.After(wait), "ipv6"
			}
		case r := <-pend6:
			pend6 = nil
			if r.err != nil {
				err6 = r.err
				break
			}
			got6 = &r.res
			if pend4 != nil && !abandoned {
				deadline, waiting = time.After(v4AfterV6Wait), "ipv4"
			}
		case <-linkLocal:
			linkLocal, seenLL = nil, true
			if got4 != nil && pend6 != nil && !abandoned && !seenRA {
				deadline = time.After(raAfterLLWait)
			}
		case <-router:
			router, seenRA = nil, true
			if got4 != nil && pend6 != nil && !abandoned {
				deadline = time.After(v6AfterRAWait)
			}
		case <-deadline:
			if abandoned {
				console.Warnf("network: %s: %s did not stop within %s; going on without it", name, waiting, abandonWait)
				pend4, pend6 = nil, nil
				break
			}
			switch {
			case waiting == "ipv4":
				console.Infof("network: %s: no DHCPv4 answer within %s of IPv6; continuing IPv6-only", name, v4AfterV6Wait)
			case seenRA:
				console.Infof("network: %s: router advertisement but no IPv6 address within %s; continuing IPv4-only", name, v6AfterRAWait)
			case seenLL:
				console.Debugf("network: %s: no IPv6 router advertisement within %s; continuing IPv4-only", name, raAfterLLWait)
			default:
				console.Debugf("network: %s: IPv6 not up on the link within %s of IPv4; continuing IPv4-only", name, llAfterV4Wait)
			}
			abandoned = true
			cancel()
			deadline = time.After(abandonWait)
		}
	}
	if got4 == nil && got6 == nil {
		return plan.Network{}, fmt.Errorf("neither IPv4 nor IPv6 configured: %w", errors.Join(err4, err6))
	}
	if !abandoned {
		// A family that failed on its own (not because the other won) is worth a line.
		if got4 == nil && err4 != nil {
			console.Warnf("network: IPv4: %v", err4)
		}
		if got6 == nil && err6 != nil && seenRA {
			console.Warnf("network: IPv6: %v", err6)
		}
	}

	var n plan.Network
	if got4 != nil {
		n = recordNetwork(name, c.MAC, *got4)
		n.Families = append(n.Families, "ipv4")
	} else {
		n = plan.Network{Configured: true, Interface: name, MAC: c.MAC}
	}
	if got6 != nil {
		n.Families = append(n.Families, "ipv6")
		n.IPv6 = record6(*got6)
		console.Infof("network: %s ipv6 %s in %s", name, summary6(*got6), console.Duration(time.Since(start)))
		if got6.lease != nil && len(got6.lease.DNS) > 0 {
			var l4 netconf.Lease
			if got4 != nil {
				l4 = *got4
			}
			if err := writeFile(env.resolvConf, []byte(netconf.ResolvConf(netconf.WithIPv6DNS(l4, *got6.lease))), 0o644); err != nil {
				console.Warnf("resolv.conf: %v", err)
			}
		}
	}
	return n, nil
}

func record6(r result6) *plan.Network6 {
	n := &plan.Network6{}
	for _, a := range r.addrs {
		n.Addresses = append(n.Addresses, a.String())
	}
	if r.gateway.IsValid() {
		n.Gateway = r.gateway.String()
	}
	if l := r.lease; l != nil {
		for _, d := range l.DNS {
			n.DNS = append(n.DNS, d.String())
		}
		n.Search = l.Search
		n.DHCPv6Server = l.Server
		n.LeaseSeconds = int(l.Valid / time.Second)
	}
	return n
}

// summary6 is the console line: "fd00:ec2::1a0/128 (DHCPv6) gw fe80::1 dns fd00:ec2::253".
func summary6(r result6) string {
	s := ""
	for i, a := range r.addrs {
		if i > 0 {
			s += " "
		}
		s += a.String()
	}
	if r.lease != nil {
		s += " (DHCPv6)"
	} else {
		s += " (SLAAC)"
	}
	if r.gateway.IsValid() {
		s += " gw " + r.gateway.String()
	} else {
		s += " (no default router)"
	}
	if r.lease != nil && len(r.lease.DNS) > 0 {
		s += " dns " + joinAddrs(r.lease.DNS)
	}
	return s
}

func joinAddrs(as []netip.Addr) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	return s
}
