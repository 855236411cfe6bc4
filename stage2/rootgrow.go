package stage2

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/fsprobe"
	"github.com/bootplan/bootplan/internal/gpt"
)

// growSlack is the smallest growth worth doing (the filesystem or partition must be at least
// this much smaller than what holds it).
const growSlack = 1 << 20

// GrowRoot grows the root filesystem (and its GPT partition) to fill a root volume that is
// larger than the image. The root device is found through stat("/") → /sys/dev/block/MAJ:MIN,
// not /proc/mounts (which shows /dev/root). It never fails the boot: every problem is logged
// and GrowRoot returns nil.
func (rt *Runtime) GrowRoot(ctx context.Context) error {
	if err := rt.growRoot(ctx); err != nil {
		console.Infof("root volume not grown: %v", err)
	}
	return nil
}

// rootDevice describes the block device holding /.
type rootDevice struct {
	name    string // kernel name: nvme0n1p1, or nvme0n1 for a whole-disk filesystem
	partn   int    // 0 for a whole disk
	disk    string // the disk of a partition
	fstype  string
	sysPart string // /sys/block/<disk>/<part> (or /sys/block/<disk>)
}

func (rt *Runtime) growRoot(ctx context.Context) error {
	rd, err := rt.findRoot()
	if err != nil {
		return err
	}
	if rd.partn > 0 {
		if err := rt.growPartition(rd); err != nil {
			return err
		}
	}
	return rt.growFilesystem(ctx, rd)
}

func (rt *Runtime) findRoot() (rootDevice, error) {
	h := rt.Host
	fi, err := h.Stat("/")
	if err != nil {
		return rootDevice{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return rootDevice{}, errors.New("stat / has no device number")
	}
	maj, min := unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))
	ue, err := h.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", maj, min))
	if err != nil {
		return rootDevice{}, fmt.Errorf("root is on device %d:%d, not a block device (%v)", maj, min, err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(ue), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	rd := rootDevice{name: kv["DEVNAME"]}
	if rd.name == "" || strings.Contains(rd.name, "/") {
		return rootDevice{}, fmt.Errorf("root device %d:%d has no usable name", maj, min)
	}
	rd.fstype = rt.rootFSType()
	if kv["DEVTYPE"] != "partition" {
		rd.sysPart = "/sys/block/" + rd.name
		return rd, nil
	}
	rd.partn, _ = strconv.Atoi(kv["PARTN"])
	disks, err := h.ReadDir("/sys/block")
	if err != nil {
		return rootDevice{}, err
	}
	for _, d := range disks {
		if _, err := h.Stat("/sys/block/" + d.Name() + "/" + rd.name); err == nil {
			rd.disk = d.Name()
			rd.sysPart = "/sys/block/" + d.Name() + "/" + rd.name
			return rd, nil
		}
	}
	return rootDevice{}, fmt.Errorf("no disk holds root partition %s", rd.name)
}

// rootFSType reads the type of / from /proc/self/mountinfo (the last mount of / wins).
func (rt *Runtime) rootFSType() string {
	b, err := rt.Host.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	fstype := ""
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 5 || f[4] != "/" {
			continue
		}
		if pf := strings.Fields(post); len(pf) > 0 {
			fstype = pf[0]
		}
	}
	return fstype
}

func (rt *Runtime) sysInt(p string) (int64, error) {
	b, err := rt.Host.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func (rt *Runtime) growPartition(rd rootDevice) error {
	dh := rt.Host
	h := rt.Host
	disk := "/dev/" + rd.disk
	size512, err := rt.sysInt("/sys/block/" + rd.disk + "/size")
	if err != nil {
		return err
	}
	lbs, err := rt.sysInt("/sys/block/" + rd.disk + "/queue/logical_block_size")
	if err != nil || lbs < 512 || lbs&(lbs-1) != 0 {
		lbs = 512
	}
	start512, err := rt.sysInt(rd.sysPart + "/start")
	if err != nil {
		return err
	}
	sectors := uint64(size512 * 512 / lbs)
	hdr, err := h.ReadDevice(disk, lbs, int(lbs))
	if err != nil {
		return fmt.Errorf("%s: reading the partition table: %w", disk, err)
	}
	ph, err := gpt.ParseHeader(hdr)
	if err != nil {
		return fmt.Errorf("%s: %w (only GPT disks are grown)", disk, err)
	}
	ents, err := h.ReadDevice(disk, int64(ph.EntriesLBA)*lbs, ph.EntriesBytes())
	if err != nil {
		return fmt.Errorf("%s: reading the GPT entries: %w", disk, err)
	}
	tb, err := gpt.Parse(hdr, ents, int(lbs))
	if err != nil {
		return fmt.Errorf("%s: %w", disk, err)
	}
	index := rd.partn
	for _, e := range tb.Entries() { // trust the start sector over the number
		if int64(e.FirstLBA)*lbs == start512*512 {
			index = e.Index
		}
	}
	align := uint64(growSlack / lbs)
	writes, last, err := tb.Grow(index, sectors, align)
	if err != nil {
		return fmt.Errorf("%s: %w", disk, err)
	}
	var first, cur uint64
	for _, e := range tb.Entries() {
		if e.Index == index {
			first, cur = e.FirstLBA, e.LastLBA
		}
	}
	// Never a table that shrinks the root partition, whatever the arithmetic above says.
	if len(writes) == 0 || last <= cur {
		console.Debugf("root partition %s already fills %s", rd.name, disk)
		return nil
	}
	for _, w := range writes {
		if err := dh.WriteDevice(disk, w.Offset, w.Data); err != nil {
			return fmt.Errorf("%s: writing the GPT: %w", disk, err)
		}
	}
	length := int64(last-first+1) * lbs
	if err := dh.ResizePartition(disk, rd.partn, int64(first)*lbs, length); err != nil {
		return fmt.Errorf("%s: partition table written but the kernel keeps the old size until a reboot: %w", disk, err)
	}
	console.Infof("root partition %s grown to %d MiB", rd.name, length>>20)
	return nil
}

func (rt *Runtime) growFilesystem(ctx context.Context, rd rootDevice) error {
	dev := "/dev/" + rd.name
	size512, err := rt.sysInt(rd.sysPart + "/size")
	if err != nil {
		return err
	}
	b, err := rt.Host.ReadDevice(dev, 0, fsprobe.ProbeSize)
	if err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	fs := fsprobe.Probe(b)
	if fs.Size > 0 && size512*512-fs.Size < growSlack {
		console.Debugf("root filesystem already fills %s", dev)
		return nil
	}
	var argv []string
	switch fs.Type {
	case fsprobe.Ext2, fsprobe.Ext3, fsprobe.Ext4:
		argv = []string{"resize2fs", dev}
	case fsprobe.XFS:
		argv = []string{"xfs_growfs", "/"}
	case fsprobe.Btrfs:
		argv = []string{"btrfs", "filesystem", "resize", "max", "/"}
	default:
		return fmt.Errorf("%s holds %s (from mountinfo: %q): no way to grow it", dev, fs, rd.fstype)
	}
	tool := MkfsDir + "/" + argv[0]
	if _, err := rt.Host.Stat(tool); err != nil {
		return fmt.Errorf("%s can grow by %d MiB but %s is missing", dev, (size512*512-fs.Size)>>20, tool)
	}
	r, err := pipeEOF()
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := rt.Host.Run(ctx, Cmd{Path: tool, Args: argv, Env: []string{"PATH=" + MkfsDir + ":/usr/sbin:/usr/bin:/sbin:/bin"}, Stdin: r})
	if err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	if !st.Exited || st.Code != 0 {
		return fmt.Errorf("%s %s: %s", tool, dev, exitText(st))
	}
	console.Infof("root filesystem on %s grown to %d MiB", dev, size512*512>>20)
	return nil
}
