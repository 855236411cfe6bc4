package stage1

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bootplan/bootplan/internal/netconf"
	"github.com/bootplan/bootplan/plan"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/testneed"
)

// serverNS maps a client namespace from setupPair to its server namespace.
var serverNS sync.Map

func serverOf(t *testing.T, client *netns) *netns {
	s, ok := serverNS.Load(client)
	if !ok {
		t.Fatal("no server namespace for this client")
	}
	return s.(*netns)
}

// clientEnv6 is clientEnv with IPv6 on: the sysctls, the DHCPv6 socket and the netlink
// subscriptions all in the client's namespace.
func clientEnv6(t *testing.T, ns *netns) *netEnv {
	env := clientEnv(t, ns)
	h := vnetns.NsHandle(ns.fd)
	env.ns = &h
	env.prepare6 = func(ifname string) (ok bool) {
		_ = inNS(t, ns.fd, func() error { ok = prepareIPv6("/proc/sys", ifname); return nil })
		return ok
	}
	env.openDHCP6 = func(ifname string) (c net.PacketConn, err error) {
		err = inNS(t, ns.fd, func() error {
			c, err = openDHCP6Real(ifname)
			return err
		})
		return c, err
	}
	return env
}

// An IPv4-only subnet (no router advertisements): the lease is recorded as IPv4 only and the
// IPv6 side is given up after its bounded waits, not after its 20 s budget.
func TestDualStackNoRouterAdvertisements(t *testing.T) {
	requireRoot(t)
	ns, link := setupPair(t, &dhcpServer{})
	env := clientEnv6(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := configure(ctx, env, link, "eth0")
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if got.Address != "10.99.0.50/24" || !reflect.DeepEqual(got.Families, []string{"ipv4"}) || got.IPv6 != nil {
		t.Fatalf("recorded %+v (IPv6 %+v)", got, got.IPv6)
	}
}

// An IPv6-only subnet: dnsmasq in the server namespace sends router advertisements and
// answers DHCPv6; the DHCPv4 server never answers. The result is IPv6 only, with the
// DHCPv6 address, its DNS server and the router as gateway.
func TestIPv6OnlyOverVeth(t *testing.T) {
	requireRoot(t)
	ns, link := setupPair(t, &dhcpServer{dropFirst: 1 << 30}) // DHCPv4 never answers
	logPath := startDnsmasq6(t, serverOf(t, ns), "--dhcp-range=fd00:ec2::100,fd00:ec2::1ff,64,1h",
		"--dhcp-option=option6:dns-server,[fd00:ec2::253]")

	env, got := configureLogged(t, ns, link, logPath)
	v6 := got.IPv6
	if got.Address != "" || !reflect.DeepEqual(got.Families, []string{"ipv6"}) || v6 == nil ||
		len(v6.Addresses) != 1 || !strings.HasPrefix(v6.Addresses[0], "fd00:ec2::1") || !strings.HasSuffix(v6.Addresses[0], "/128") ||
		!strings.HasPrefix(v6.Gateway, "fe80::") || !reflect.DeepEqual(v6.DNS, []string{"fd00:ec2::253"}) || v6.DHCPv6Server == "" {
		t.Fatalf("recorded %+v (IPv6 %+v)", got, v6)
	}
	b, err := os.ReadFile(env.resolvConf)
	if err != nil || !strings.Contains(string(b), "nameserver fd00:ec2::253\n") {
		t.Fatalf("resolv.conf: %v\n%s", err, b)
	}
}

// A dual-stack subnet whose router advertisement asks for SLAAC only (no managed flag): both
// families, the IPv6 address is the SLAAC /64 one and no DHCPv6 server is recorded.
func TestDualStackSLAACOverVeth(t *testing.T) {
	requireRoot(t)
	ns, link := setupPair(t, &dhcpServer{})
	logPath := startDnsmasq6(t, serverOf(t, ns), "--dhcp-range=fd00:ec2::,ra-only,64")
	_, got := configureLogged(t, ns, link, logPath)
	v6 := got.IPv6
	if got.Address != "10.99.0.50/24" || !reflect.DeepEqual(got.Families, []string{"ipv4", "ipv6"}) || v6 == nil ||
		len(v6.Addresses) != 1 || !strings.HasPrefix(v6.Addresses[0], "fd00:ec2::") || !strings.HasSuffix(v6.Addresses[0], "/64") ||
		v6.DHCPv6Server != "" {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("recorded %+v (IPv6 %+v)\ndnsmasq:\n%s", got, v6, b)
	}
}

// configureLogged configures link in ns as eth0 (40 s at most) and fails the test with
// dnsmasq's log (logPath) when that fails.
func configureLogged(t *testing.T, ns *netns, link netconf.Link, logPath string) (*netEnv, plan.Network) {
	t.Helper()
	env := clientEnv6(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	got, err := configure(ctx, env, link, "eth0")
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("configure: %v\ndnsmasq:\n%s", err, b)
	}
	return env, got
}

// startDnsmasq6 gives the server side fd00:ec2::1/64 and a default route (dnsmasq advertises
// a default router only when its host has one) and runs dnsmasq there with router
// advertisements and the extra arguments. It returns dnsmasq's log path.
func startDnsmasq6(t *testing.T, server *netns, extra ...string) string {
	t.Helper()
	dnsmasq := testneed.Tool(t, "dnsmasq", "dnsmasq-base")
	sl, err := server.nl.LinkByName("bps0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.nl.AddrAdd(sl, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("fd00:ec2::1"), Mask: net.CIDRMask(64, 128)}, Flags: syscall.IFA_F_NODAD}); err != nil {
		t.Fatal(err)
	}
	// dnsmasq only advertises a default router when its host has a default route.
	if err := server.nl.RouteAdd(&netlink.Route{LinkIndex: sl.Attrs().Index, Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, Priority: 4096}); err != nil {
		t.Fatal(err)
	}
	// The router's link-local address (its RA source) comes up with the client's carrier:
	// without duplicate detection it can answer the client's first solicitation (else the
	// next comes 4 s later), as EC2's router always can.
	if err := inNS(t, server.fd, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/bps0/accept_dad", []byte("0"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "dnsmasq.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	args := append([]string{fmt.Sprintf("--net=/proc/%d/fd/%d", os.Getpid(), server.fd), dnsmasq,
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
		"--interface=bps0", "--bind-dynamic", "--pid-file=", "--log-facility=-", "--log-dhcp",
		"--enable-ra", "--ra-param=bps0,5,1800"}, extra...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// A router is there before the instance boots: wait (bounded) until dnsmasq advertises.
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "router advertisement enabled") {
			return logPath
		}
		if i == 100 {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("dnsmasq not advertising after 10s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inet6Flags finds IFLA_INET6_FLAGS in a hand-built RTM_NEWLINK payload for the right
// ifindex only.
func TestInet6Flags(t *testing.T) {
	flags := nl.NewRtAttr(iflaInet6Flags, nl.Uint32Attr(0x40|0x20))
	proto := nl.NewRtAttr(unix.IFLA_PROTINFO|syscall.NLA_F_NESTED, nil)
	proto.AddChild(flags)
	msg := nl.NewIfInfomsg(unix.AF_INET6)
	msg.Index = 7
	data := append(msg.Serialize(), nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("eth0")).Serialize()...)
	data = append(data, proto.Serialize()...)
	if f, ok := inet6Flags(data, 7); !ok || f&ifRAManaged == 0 {
		t.Fatalf("flags %#x, %v", f, ok)
	}
	if _, ok := inet6Flags(data, 8); ok {
		t.Fatal("matched another ifindex")
	}
	if _, ok := inet6Flags(data[:10], 7); ok {
		t.Fatal("parsed a short message")
	}
	noProto := append(msg.Serialize(), nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("eth0")).Serialize()...)
	if _, ok := inet6Flags(noProto, 7); ok {
		t.Fatal("flags without IFLA_PROTINFO")
	}
}

// parseRARoute keeps IPv6 routes of protocol "ra" and reads interface, default-ness and router.
func TestParseRARoute(t *testing.T) {
	msg := func(family, dstLen, proto uint8, attrs ...*nl.RtAttr) []byte {
		m := nl.NewRtMsg()
		m.Family, m.Dst_len, m.Protocol = family, dstLen, proto
		b := m.Serialize()
		for _, a := range attrs {
			b = append(b, a.Serialize()...)
		}
		return b
	}
	oif := nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(3))
	gw := nl.NewRtAttr(unix.RTA_GATEWAY, net.ParseIP("fe80::1"))
	dst := nl.NewRtAttr(unix.RTA_DST, net.ParseIP("fd00:ec2::"))
	for _, tc := range []struct {
		name string
		data []byte
		want raRoute
		ok   bool
	}{
		{"default route from an RA", msg(unix.AF_INET6, 0, unix.RTPROT_RA, oif, gw), raRoute{index: 3, dflt: true, gateway: netip.MustParseAddr("fe80::1")}, true},
		{"on-link prefix from an RA", msg(unix.AF_INET6, 64, unix.RTPROT_RA, dst, oif), raRoute{index: 3}, true},
		{"kernel route", msg(unix.AF_INET6, 64, unix.RTPROT_KERNEL, dst, oif), raRoute{}, false},
		{"IPv4", msg(unix.AF_INET, 0, unix.RTPROT_RA, oif), raRoute{}, false},
		{"no interface", msg(unix.AF_INET6, 0, unix.RTPROT_RA, gw), raRoute{}, false},
		{"short", []byte{unix.AF_INET6, 0}, raRoute{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRARoute(tc.data)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
