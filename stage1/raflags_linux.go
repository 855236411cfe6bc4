package stage1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Flags the kernel keeps from the last router advertisement (include/net/if_inet6.h),
// reported as IFLA_INET6_FLAGS inside IFLA_PROTINFO of an AF_INET6 link dump.
const (
	ifRAManaged    = 0x40 // M: addresses come from DHCPv6
	iflaInet6Flags = 1    // IFLA_INET6_FLAGS
)

// raManaged asks the kernel whether the last router advertisement on ifindex idx had the
// managed-address flag (M): then the address comes from DHCPv6, else SLAAC is all there is
// and nothing needs to wait for DHCPv6.
func raManaged(ns *vnetns.NsHandle, idx int) (bool, error) {
	target := vnetns.None()
	if ns != nil {
		target = *ns
	}
	s, err := nl.GetNetlinkSocketAt(target, vnetns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return false, err
	}
	defer s.Close()
	if err := s.SetReceiveTimeout(&unix.Timeval{Sec: 1}); err != nil {
		return false, err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_INET6))
	if err := s.Send(req); err != nil {
		return false, err
	}
	var managed, found bool
	for range 1000 { // a dump of a few links ends long before this
		msgs, _, err := s.Receive()
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if !found {
					return false, fmt.Errorf("ifindex %d not in the IPv6 link dump", idx)
				}
				return managed, nil
			case unix.NLMSG_ERROR:
				return false, errors.New("IPv6 link dump refused")
			case unix.RTM_NEWLINK:
				if f, ok := inet6Flags(m.Data, idx); ok {
					managed, found = f&ifRAManaged != 0, true
				}
			}
		}
	}
	return false, errors.New("IPv6 link dump did not end")
}

// inet6Flags reads IFLA_INET6_FLAGS from one RTM_NEWLINK payload (ifinfomsg + attributes)
// when it describes ifindex idx.
func inet6Flags(data []byte, idx int) (uint32, bool) {
	if len(data) < unix.SizeofIfInfomsg {
		return 0, false
	}
	ifi := nl.DeserializeIfInfomsg(data)
	if int(ifi.Index) != idx {
		return 0, false
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfInfomsg:])
	if err != nil {
		return 0, false
	}
	for _, a := range attrs {
		if a.Attr.Type&^syscall.NLA_F_NESTED != unix.IFLA_PROTINFO {
			continue
		}
		inner, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return 0, false
		}
		for _, b := range inner {
			if b.Attr.Type == iflaInet6Flags && len(b.Value) >= 4 {
				return binary.NativeEndian.Uint32(b.Value), true
			}
		}
	}
	return 0, false
}

// raRoute is a route the kernel installed from a router advertisement.
type raRoute struct {
	index   int
	dflt    bool       // the default route (router lifetime > 0)
	gateway netip.Addr // the router, for the default route
}

// subscribeRARoutes sends each IPv6 route from a router advertisement, existing or new, to
// ch until done is closed (then ch is closed). It reads rtnetlink itself: the netlink
// library's route subscription decodes every route encapsulation there is, which costs stage
// one's size budget some 60 KB for three fields.
func subscribeRARoutes(ns *vnetns.NsHandle, done <-chan struct{}, ch chan<- raRoute, errCb func(error)) error {
	target := vnetns.None()
	if ns != nil {
		target = *ns
	}
	s, err := nl.SubscribeAt(target, vnetns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_INET6))
	if err := s.Send(req); err != nil {
		s.Close()
		return err
	}
	go func() {
		<-done
		s.Close() // unblocks Receive
	}()
	go func() {
		defer close(ch)
		for {
			msgs, from, err := s.Receive()
			if err != nil {
				errCb(err)
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				if m.Header.Type != unix.RTM_NEWROUTE {
					continue
				}
				if r, ok := parseRARoute(m.Data); ok {
					select {
					case ch <- r:
					case <-done:
						return
					}
				}
			}
		}
	}()
	return nil
}

// parseRARoute reads an RTM_NEWROUTE payload (rtmsg + attributes): IPv6 routes of protocol
// "ra" only.
func parseRARoute(data []byte) (raRoute, bool) {
	if len(data) < unix.SizeofRtMsg {
		return raRoute{}, false
	}
	family, dstLen, protocol := data[0], data[1], data[5]
	if family != unix.AF_INET6 || protocol != unix.RTPROT_RA {
		return raRoute{}, false
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofRtMsg:])
	if err != nil {
		return raRoute{}, false
	}
	r := raRoute{dflt: dstLen == 0}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_OIF:
			if len(a.Value) >= 4 {
				r.index = int(binary.NativeEndian.Uint32(a.Value))
			}
		case unix.RTA_GATEWAY:
			if gw, ok := netip.AddrFromSlice(a.Value); ok {
				r.gateway = gw
			}
		}
	}
	return r, r.index > 0
}
