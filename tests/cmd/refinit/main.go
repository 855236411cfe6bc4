// Command refinit is the minimal reference init of the boot benchmark (make bench-boot), for
// tests only: a static Go PID 1 that does the least an EC2 init must do before the workload
// runs (mount /proc, /sys, /dev; load the NIC driver; DHCP; fetch user data over IMDSv2) and
// execs the command. bootplan's boot is measured against it: anything bootplan takes beyond
// this is time it adds. It logs in bootplan's console format so one parser reads both.
//
// The command is argv[1:] of the kernel's rdinit (/bench/probe by default). Any failure
// prints "FAIL refinit: ..." and powers off (bounded by a watchdog).
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nicOrder is virtio_net's load order in the test kernel (tests' reference/test-machine.md);
// a minimal init knows its platform's driver.
var nicOrder = []string{"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
	"virtio_pci", "failover", "net_failover", "virtio_net"}

const imds = "http://169.254.169.254"

func logf(format string, args ...any) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	d := time.Duration(ts.Nano())
	fmt.Fprintf(os.Stderr, "[%4d.%03d] info: refinit: %s\n", int64(d/time.Second), int64(d%time.Second/time.Millisecond), fmt.Sprintf(format, args...))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL refinit: %s\n", fmt.Sprintf(format, args...))
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func main() {
	logf("started")
	time.AfterFunc(60*time.Second, func() { fail("watchdog: boot took over 60s") })
	for _, m := range []struct{ src, dst, fs string }{{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"}} {
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil {
			fail("mount %s: %v", m.dst, err)
		}
	}
	if err := loadNIC(); err != nil {
		fail("%v", err)
	}
	logf("NIC drivers loaded")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := network(ctx); err != nil {
		fail("network: %v", err)
	}
	ud, err := userData(ctx)
	if err != nil {
		fail("user data: %v", err)
	}
	if err := os.WriteFile("/run/user-data", ud, 0o600); err != nil {
		fail("user data: %v", err)
	}
	logf("user data: %d bytes", len(ud))
	argv := os.Args[1:]
	if len(argv) == 0 {
		argv = []string{"/bench/probe"}
	}
	logf("exec %s", argv[0])
	err = unix.Exec(argv[0], argv, []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin"})
	fail("exec %s: %v", argv[0], err)
}

// loadNIC loads nicOrder's files, found through modules.dep.
func loadNIC() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	dir := "/lib/modules/" + unix.ByteSliceToString(u.Release[:])
	dep, err := os.ReadFile(dir + "/modules.dep")
	if err != nil {
		return err
	}
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(dep))
	for sc.Scan() {
		p, _, _ := strings.Cut(sc.Text(), ":")
		base := p[strings.LastIndex(p, "/")+1:]
		base, _, _ = strings.Cut(base, ".ko")
		paths[strings.ReplaceAll(base, "-", "_")] = p
	}
	for _, m := range nicOrder {
		p, ok := paths[m]
		if !ok {
			continue // built in
		}
		f, err := os.Open(dir + "/" + p)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("load %s: %w", m, err)
		}
	}
	return nil
}

// network brings eth0 up, waits for carrier (netlink events), leases and applies the address.
func network(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		return err
	}
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	up := func(a *netlink.LinkAttrs) bool { return a.RawFlags&unix.IFF_LOWER_UP != 0 }
	if l, err := netlink.LinkByName("eth0"); err != nil || !up(l.Attrs()) {
		for carrier := false; !carrier; {
			select {
			case u := <-updates:
				carrier = u.Attrs().Name == "eth0" && up(u.Attrs())
			case <-ctx.Done():
				return fmt.Errorf("eth0: no carrier: %w", ctx.Err())
			}
		}
	}
	c, err := nclient4.New("eth0", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
	if err != nil {
		return err
	}
	defer c.Close()
	lease, err := c.Request(ctx)
	if err != nil {
		return err
	}
	ack := lease.ACK
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ack.YourIPAddr, Mask: ack.SubnetMask()}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return err
	}
	if r := ack.Router(); len(r) > 0 {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: r[0]}); err != nil {
			return err
		}
	}
	logf("eth0 %s lease", addr.IPNet)
	return nil
}

// userData fetches user data with an IMDSv2 token.
func userData(ctx context.Context) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, imds+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	tok, err := do(req)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, imds+"/latest/user-data", nil)
	req.Header.Set("X-aws-ec2-metadata-token", string(tok))
	return do(req)
}

func do(req *http.Request) ([]byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", req.URL.Path, resp.Status)
	}
	return b, err
}
