package vmrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Network modes (scenario.toml network = ...). "user" is QEMU's user network (the default):
// DHCPv4 only. The tap modes put the VM's NIC on a tap device inside a network namespace the
// runner creates for the boot, where dnsmasq serves DHCPv4, DHCPv6 and router advertisements
// as EC2 does, and the mock IMDS and moto are reached at EC2's addresses.
const (
	NetUser     = "user"
	NetTapDual  = "tap-dual"   // DHCPv4 + RA + DHCPv6 (a dual-stack subnet)
	NetTapV6    = "tap-v6only" // RA + DHCPv6 only (an IPv6-only subnet: DHCPv4 never answers)
	netnsPrefix = "bpvm-"
)

// Addresses inside a tap network namespace (EC2's, see README "Network modes").
const (
	TapV4Net     = "10.0.2.0/24"
	TapV4Router  = "10.0.2.1"
	TapV4DNS     = "10.0.2.3"
	TapV6Prefix  = "fd00:ec2::"
	TapV6Router  = "fd00:ec2::1"
	TapIMDSv6    = "fd00:ec2::254"
	TapDNSv6     = "fd00:ec2::253"
	TapAWSv6     = "fd00:ec2::2"
	TapIMDSv6URL = "http://[" + TapIMDSv6 + "]"
	// The AWS SDK refuses IPv6 literals in endpoint URLs (smithy-go's host validation), and
	// EC2's dual-stack endpoints are names anyway: the guest resolves this one through the
	// scenario's overlay/etc/hosts ("fd00:ec2::2 aws.ipv6.test").
	TapAWSv6Host  = "aws.ipv6.test"
	TapAWSv6URL   = "http://" + TapAWSv6Host
	tapDev        = "tap0"
	dnsmasqReady  = 10 * time.Second
	tapCmdTimeout = 10 * time.Second
)

// IsTap reports whether a network mode uses a tap device in a namespace.
func IsTap(mode string) bool { return strings.HasPrefix(mode, "tap-") }

// tapNet is one boot's namespace: tap0, dnsmasq, and listeners for IMDS and moto inside it.
type tapNet struct {
	mode    string
	name    string // ip netns name
	dnsmasq *exec.Cmd
	lns     []net.Listener
	wg      sync.WaitGroup
}

// CheckTapTools says what a tap scenario needs and is missing (dnsmasq, ip, root).
func CheckTapTools() error {
	if os.Geteuid() != 0 {
		return errors.New("tap network scenarios need root (network namespaces, tap devices)")
	}
	for _, t := range []string{"ip", "dnsmasq"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s not found: run `make assets` (tests/assets.sh installs dnsmasq-base and iproute2): %w", t, err)
		}
	}
	return nil
}

func runIP(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), tapCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStaleNamespaces deletes bpvm-<pid>-* namespaces whose runner process is gone (a
// runner killed before its cleanup ran).
func removeStaleNamespaces() {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // alive, or not ours to judge
		}
		_ = runIP("netns", "del", e.Name())
	}
}

var tapSeq struct {
	sync.Mutex
	n int
}

// startTapNet creates the namespace with tap0 and its addresses, starts dnsmasq there, and
// makes the mock IMDS (imdsPort on 127.0.0.1) and moto (awsPort, 0 = none) reachable at EC2's
// addresses inside it. The caller must call close, also on failure paths after success.
func startTapNet(mode, logPath string, imdsPort, awsPort int) (*tapNet, error) {
	if err := CheckTapTools(); err != nil {
		return nil, err
	}
	removeStaleNamespaces()
	tapSeq.Lock()
	tapSeq.n++
	name := fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), tapSeq.n)
	tapSeq.Unlock()
	if err := runIP("netns", "add", name); err != nil {
		return nil, err
	}
	t := &tapNet{mode: mode, name: name}
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	v4 := mode == NetTapDual
	cmds := [][]string{
		{"link", "set", "lo", "up"},
		{"tuntap", "add", "dev", tapDev, "mode", "tap"},
		// Our own addresses need no duplicate address detection (nothing else is on the link).
		{"addr", "add", TapV6Router + "/64", "dev", tapDev, "nodad"},
		{"addr", "add", TapIMDSv6 + "/128", "dev", tapDev, "nodad"},
		{"addr", "add", TapDNSv6 + "/128", "dev", tapDev, "nodad"},
		{"addr", "add", TapAWSv6 + "/128", "dev", tapDev, "nodad"},
	}
	if v4 {
		cmds = append(cmds,
			[]string{"addr", "add", TapV4Router + "/24", "dev", tapDev},
			[]string{"addr", "add", IMDSAddr + "/32", "dev", tapDev},
			[]string{"addr", "add", AWSAddr + "/32", "dev", tapDev})
	}
	// dnsmasq advertises a router lifetime of zero (not a default router) when its host has
	// no IPv6 default route; EC2's router is a default router.
	cmds = append(cmds, []string{"link", "set", tapDev, "up"}, []string{"-6", "route", "add", "default", "dev", tapDev, "metric", "4096"})
	for _, c := range cmds {
		if err := runIP(append([]string{"-n", name}, c...)...); err != nil {
			return nil, err
		}
	}
	if err := t.startDnsmasq(logPath, v4); err != nil {
		return nil, err
	}
	fwd := []struct {
		addr string
		port int
	}{{"[" + TapIMDSv6 + "]:80", imdsPort}}
	if v4 {
		fwd = append(fwd, struct {
			addr string
			port int
		}{IMDSAddr + ":80", imdsPort})
	}
	if awsPort > 0 {
		fwd = append(fwd, struct {
			addr string
			port int
		}{"[" + TapAWSv6 + "]:80", awsPort})
		if v4 {
			fwd = append(fwd, struct {
				addr string
				port int
			}{AWSAddr + ":80", awsPort})
		}
	}
	for _, f := range fwd {
		ln, err := t.listen(f.addr)
		if err != nil {
			return nil, err
		}
		t.lns = append(t.lns, ln)
		t.wg.Add(1)
		go t.forward(ln, f.port)
	}
	ok = true
	return t, nil
}

func (t *tapNet) startDnsmasq(logPath string, v4 bool) error {
	args := []string{"netns", "exec", t.name, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
		"--no-resolv", "--no-hosts", "--port=0", "--interface=" + tapDev, "--bind-dynamic", "--log-dhcp",
		"--log-facility=-", "--pid-file=", "--dhcp-authoritative",
		"--no-ping", // an offer at once, as EC2's DHCP server does (no 3 s probe of the address)
		// IPv6: stateful DHCPv6 (M flag, no SLAAC), as EC2 does; DNS as EC2's resolver address.
		"--enable-ra", "--ra-param=" + tapDev + ",5,1800",
		"--dhcp-range=" + TapV6Prefix + "100," + TapV6Prefix + "1ff,64,1h",
		"--dhcp-option=option6:dns-server,[" + TapDNSv6 + "]"}
	if v4 {
		args = append(args, "--dhcp-range=10.0.2.100,10.0.2.200,255.255.255.0,1h",
			"--dhcp-option=option:router,"+TapV4Router, "--dhcp-option=option:dns-server,"+TapV4DNS)
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("dnsmasq log: %w", err)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start dnsmasq: %w", err)
	}
	t.dnsmasq = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lf.Close() }()
	// Ready when it logs that DHCP is on; an early exit is a configuration error.
	deadline := time.Now().Add(dnsmasqReady)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.dnsmasq = nil
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("dnsmasq exited: %v: %s", err, strings.TrimSpace(string(b)))
		case <-time.After(100 * time.Millisecond):
		}
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "DHCPv6") || strings.Contains(string(b), "router advertisement") {
			go func() { <-exited }()
			return nil
		}
	}
	go func() { <-exited }()
	return fmt.Errorf("dnsmasq did not report DHCP within %s (see %s)", dnsmasqReady, logPath)
}

// listen opens a TCP listener inside the namespace: the socket keeps the namespace it was
// created in, so the rest of the runner (in the host namespace) can serve it.
func (t *tapNet) listen(addr string) (net.Listener, error) {
	type res struct {
		ln  net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked if we cannot return: the thread then exits with the goroutine
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open(filepath.Join("/run/netns", t.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			ch <- res{nil, fmt.Errorf("setns %s: %w", t.name, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			if ln != nil {
				ln.Close()
			}
			ch <- res{nil, fmt.Errorf("return from %s: %w", t.name, err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{ln, lerr}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("listen %s in %s: %w", addr, t.name, r.err)
	}
	return r.ln, nil
}

// forward copies each connection accepted inside the namespace to 127.0.0.1:port on the host.
func (t *tapNet) forward(ln net.Listener, port int) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
			<-done
		}()
	}
}

// qemuCommand wraps QEMU's argv so it runs inside the namespace (where tap0 is).
func (t *tapNet) qemuCommand(qemu string, args []string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", t.name, qemu}, args...)...)
}

// netdevArgs are QEMU's NIC arguments for the tap.
func (t *tapNet) netdevArgs(mac string) []string {
	return []string{"-netdev", "tap,id=n0,ifname=" + tapDev + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac=" + mac}
}

// kernelArgs are the command-line words the tap modes need: the AWS endpoint at the family
// the subnet has. No IMDS endpoint: stage one chooses it (that is what the scenarios test).
func (t *tapNet) kernelArgs(aws bool) []string {
	if !aws {
		return nil
	}
	if t.mode == NetTapV6 {
		return []string{"AWS_ENDPOINT_URL=" + TapAWSv6URL}
	}
	return []string{"AWS_ENDPOINT_URL=" + AWSEndpoint}
}

// close stops dnsmasq and the listeners and deletes the namespace (tap0 goes with it).
func (t *tapNet) close() {
	for _, ln := range t.lns {
		ln.Close()
	}
	if t.dnsmasq != nil && t.dnsmasq.Process != nil {
		_ = syscall.Kill(-t.dnsmasq.Process.Pid, syscall.SIGKILL)
	}
	t.wg.Wait()
	if err := runIP("netns", "del", t.name); err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
	}
}
