package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bootplan/bootplan/internal/testneed"
)

const depFixture = `kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/lib/libcrc32c.ko:
kernel/fs/xfs/xfs.ko.xz: kernel/lib/libcrc32c.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/input/evdev.ko:
kernel/drivers/dummy/a-b.ko: kernel/drivers/dummy/orphan.ko
kernel/x/cyc1.ko: kernel/x/cyc2.ko
kernel/x/cyc2.ko: kernel/x/cyc1.ko
`

func dep(t *testing.T) Dep {
	t.Helper()
	d, err := ParseDep(strings.NewReader(depFixture))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPlan(t *testing.T) {
	d := dep(t)
	cases := []struct {
		name string
		want []string
		err  string
	}{
		{name: "br_netfilter", want: []string{"kernel/net/llc/llc.ko", "kernel/net/802/stp.ko", "kernel/net/bridge/bridge.ko", "kernel/net/bridge/br_netfilter.ko"}},
		{name: "br-netfilter", want: []string{"kernel/net/llc/llc.ko", "kernel/net/802/stp.ko", "kernel/net/bridge/bridge.ko", "kernel/net/bridge/br_netfilter.ko"}},
		{name: "nf_conntrack", want: []string{"kernel/lib/libcrc32c.ko", "kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko", "kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko", "kernel/net/netfilter/nf_conntrack.ko"}},
		{name: "virtio_net", want: []string{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"}},
		{name: "xfs", want: []string{"kernel/lib/libcrc32c.ko", "kernel/fs/xfs/xfs.ko.xz"}},
		{name: "evdev", want: []string{"kernel/drivers/input/evdev.ko"}},
		{name: "a_b", want: []string{"kernel/drivers/dummy/orphan.ko", "kernel/drivers/dummy/a-b.ko"}},
		{name: "cyc1", err: "dependency cycle"},
		{name: "nope", err: "module nope: not in modules.dep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Plan(d, c.name)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Plan error = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Plan(%s) =\n %v\nwant\n %v", c.name, got, c.want)
			}
		})
	}
	if _, ok := d.File["orphan"]; ok {
		t.Error("Plan changed the Dep it was given")
	}
}

func TestParseDepErrors(t *testing.T) {
	if _, err := ParseDep(strings.NewReader("ok.ko:\nno colon here\n")); err == nil || !strings.Contains(err.Error(), "modules.dep:2:") {
		t.Fatalf("error = %v, want a line number", err)
	}
}

func TestNameOf(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/bridge/br_netfilter.ko":     "br_netfilter",
		"kernel/fs/xfs/xfs.ko.xz":               "xfs",
		"kernel/drivers/nvme/host/nvme-core.ko": "nvme_core",
		"/abs/x.ko.zst":                         "x",
		"kernel/.ko":                            "", // nothing before the suffix
		"kernel/readme":                         "readme",
	} {
		if got := NameOf(in); got != want {
			t.Errorf("NameOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAlias(t *testing.T) {
	al, err := ParseAlias(strings.NewReader(`# Aliases extracted from modules themselves.
alias fs-xfs xfs
alias net-pf-7 bridge
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias devname:cpu/microcode microcode
alias symbol:nf_conntrack_in nf_conntrack
alias char-major-10-[0-9]* misc-thing
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"fs-xfs":   {"xfs"},
		"fs_xfs":   {"xfs"},
		"net-pf-7": {"bridge"},
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00": {"virtio_pci"},
		"symbol:nf_conntrack_in":                                {"nf_conntrack"},
		"char-major-10-5":                                       {"misc_thing"},
		"fs-ext9":                                               nil,
	}
	for name, want := range cases {
		if got := MatchAlias(al, name); !reflect.DeepEqual(got, want) {
			t.Errorf("MatchAlias(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := ParseAlias(strings.NewReader("alias onlytwo\n")); err == nil {
		t.Error("bad alias line accepted")
	}
	// The error names the line: comments and blank lines count.
	_, err = ParseAlias(strings.NewReader("# c\n\nalias a b\nalias onlytwo\n"))
	if err == nil || err.Error() != `modules.alias:4: want "alias PATTERN MODULE", got "alias onlytwo"` {
		t.Errorf("error = %v", err)
	}
}

func TestIndex(t *testing.T) {
	files := map[string]string{
		"/lib/modules/6.1.0-test/modules.dep":     depFixture,
		"/lib/modules/6.1.0-test/modules.alias":   "alias fs-xfs xfs\nalias net-pf-7 bridge\nalias crypto-crc32c libcrc32c\nalias fs-ext4 ext4\n",
		"/lib/modules/6.1.0-test/modules.builtin": "kernel/fs/ext4/ext4.ko\nkernel/drivers/nvme/host/nvme-core.ko\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	ix, err := Open(read, "/", "6.1.0-test")
	if err != nil {
		t.Fatal(err)
	}
	var loaded []string
	load := func(f, p string) error { loaded = append(loaded, f+"|"+p); return nil }
	if err := ix.Load("fs-xfs", "", load); err != nil {
		t.Fatal(err)
	}
	if err := ix.Load("br_netfilter", "", load); err != nil {
		t.Fatal(err)
	}
	if err := ix.Load("evdev", "foo=1 bar=2", load); err != nil {
		t.Fatal(err)
	}
	for _, builtin := range []string{"ext4", "fs-ext4", "nvme-core", "nvme_core"} {
		if err := ix.Load(builtin, "", load); err != nil {
			t.Fatalf("builtin %s: %v", builtin, err)
		}
	}
	want := []string{
		"/lib/modules/6.1.0-test/kernel/lib/libcrc32c.ko|",
		"/lib/modules/6.1.0-test/kernel/fs/xfs/xfs.ko.xz|",
		"/lib/modules/6.1.0-test/kernel/net/llc/llc.ko|",
		"/lib/modules/6.1.0-test/kernel/net/802/stp.ko|",
		"/lib/modules/6.1.0-test/kernel/net/bridge/bridge.ko|",
		"/lib/modules/6.1.0-test/kernel/net/bridge/br_netfilter.ko|",
		"/lib/modules/6.1.0-test/kernel/drivers/input/evdev.ko|foo=1 bar=2",
	}
	if !reflect.DeepEqual(loaded, want) {
		t.Fatalf("loaded\n %v\nwant\n %v", loaded, want)
	}
	err = ix.Load("nosuch", "", load)
	if err == nil || !strings.Contains(err.Error(), "module nosuch not found in /lib/modules/6.1.0-test") {
		t.Fatalf("missing module error = %v", err)
	}
	fail := func(f, p string) error { return errors.New("finit_module " + f + ": operation not permitted") }
	if err := ix.Load("evdev", "", fail); err == nil || !strings.HasPrefix(err.Error(), "module evdev: finit_module") {
		t.Fatalf("load failure = %v", err)
	}
	if _, err := Open(read, "/", "../etc"); err == nil {
		t.Error("release with a slash accepted")
	}
	if _, err := Open(read, "/", "5.10"); err == nil || !strings.Contains(err.Error(), "run depmod") {
		t.Errorf("missing modules.dep error = %v", err)
	}
}

// TestRealKernel resolves modules against the Debian kernel the VM tests boot, when it has been
// fetched (make assets puts it under .cache/kernel).
func TestRealKernel(t *testing.T) {
	dirs, _ := filepath.Glob("../../.cache/kernel/lib/modules/*")
	if len(dirs) == 0 {
		testneed.Missing(t, "no kernel under .cache/kernel (make assets): real modules.dep not checked")
	}
	root, _ := filepath.Abs("../../.cache/kernel")
	ix, err := Open(os.ReadFile, root, filepath.Base(dirs[0]))
	if err != nil {
		t.Fatal(err)
	}
	for name, last := range map[string]string{"br_netfilter": "br_netfilter.ko", "nf_conntrack": "nf_conntrack.ko", "fs-xfs": "xfs.ko", "virtio_net": "virtio_net.ko", "button": "button.ko"} {
		files, builtin, err := ix.Resolve(name)
		if err != nil || builtin || len(files) == 0 || !strings.HasSuffix(files[len(files)-1], "/"+last) {
			t.Errorf("Resolve(%s) = %v, %v, %v", name, files, builtin, err)
			continue
		}
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if _, builtin, err := ix.Resolve("ext4"); err != nil || !builtin {
		t.Errorf("ext4 should be builtin: %v %v", builtin, err)
	}
}

// A full modules.alias (Debian's cloud kernel has ~25k lines) matched for one NIC modalias:
// the allocation count stays flat however long the file is.
func BenchmarkMatchAliasFull(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 25000; i++ {
		fmt.Fprintf(&sb, "alias pci:v%08Xd%08Xsv*sd*bc*sc*i* mod_%d\n", 0x1000+i%500, i, i)
	}
	sb.WriteString("alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci\n")
	aliases, err := ParseAlias(strings.NewReader(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	const dev = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	b.ReportAllocs()
	for b.Loop() {
		if got := MatchAlias(aliases, dev); len(got) != 1 || got[0] != "virtio_pci" {
			b.Fatalf("MatchAlias = %v", got)
		}
	}
}

func TestMatchAliasAllocs(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&sb, "alias pci:v%08Xd%08Xsv*sd*bc*sc*i* mod_%d\n", 0x1000+i%500, i, i)
	}
	aliases, err := ParseAlias(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	// No match: one normalized name and the empty map, nothing per alias line.
	if n := testing.AllocsPerRun(10, func() { MatchAlias(aliases, "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00") }); n > 5 {
		t.Fatalf("MatchAlias allocates %.0f times over 2000 aliases; want a handful", n)
	}
}
