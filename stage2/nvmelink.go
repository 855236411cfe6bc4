package stage2

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/nvme"
)

// LinkNVMe gives NVMe disks the names EC2 knows them by: /dev/sdf → nvme1n1, /dev/sdf1 →
// nvme1n1p1. The name comes from the controller's identify data (Amazon EBS and instance
// store), or, when the controller carries none but its serial is a volume id, from the EC2
// attachment of that volume (DescribeVolumes). Stale links are replaced; real device nodes
// are left alone.
//
// It first subscribes to kernel uevents (so nothing added during the scan is missed), then
// links what is already there (coldplug). The uevent listener lives as long as PID 1
// (volumes may be attached at any time), independent of ctx's cancellation. Failures are
// logged: a missing name shows up as a clear timeout in the step that needs it.
func (rt *Runtime) LinkNVMe(ctx context.Context) error {
	dh := rt.Host
	l := rt.nvmeLinker(dh)
	forever := context.WithoutCancel(ctx)
	if err := dh.WatchBlockDevices(forever, func(dev string, partn int) {
		lctx, cancel := context.WithTimeout(forever, 30*time.Second)
		defer cancel()
		l.link(lctx, dev, partn, true, true)
	}); err != nil {
		console.Warnf("nvme: no names for hot-plugged disks: %v", err)
	}
	l.coldplug(ctx)
	return nil
}

var linkers sync.Map // *Runtime → *nvmeLinker

func (rt *Runtime) nvmeLinker(dh DiskHost) *nvmeLinker {
	l, _ := linkers.LoadOrStore(rt, &nvmeLinker{rt: rt, dh: dh, names: map[string]string{}, volumes: map[string]string{}})
	return l.(*nvmeLinker)
}

type nvmeLinker struct {
	rt *Runtime
	dh DiskHost

	mu         sync.Mutex
	names      map[string]string // kernel disk name → EC2 name ("" = none)
	volumes    map[string]string // volume id → attachment device name (positive answers only; dropped on hot-plug)
	instanceID string
}

// coldplug links every NVMe disk and partition under /sys/block.
func (l *nvmeLinker) coldplug(ctx context.Context) {
	h := l.rt.Host
	disks, err := h.ReadDir("/sys/block")
	if err != nil {
		console.Debugf("nvme: %v", err)
		return
	}
	for _, d := range disks {
		disk := d.Name()
		if !strings.HasPrefix(disk, "nvme") {
			continue
		}
		l.link(ctx, disk, 0, true, false)
		subs, err := h.ReadDir("/sys/block/" + disk)
		if err != nil {
			continue
		}
		for _, s := range subs {
			if !strings.HasPrefix(s.Name(), disk) {
				continue
			}
			b, err := h.ReadFile("/sys/block/" + disk + "/" + s.Name() + "/partition")
			if err != nil {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
				l.link(ctx, s.Name(), n, false, false)
			}
		}
	}
}

// diskOf returns the disk of partition dev number n: nvme1n1p2 → nvme1n1, sdb2 → sdb.
func diskOf(dev string, n int) string {
	s := strconv.Itoa(n)
	if d, ok := strings.CutSuffix(dev, "p"+s); ok && d != "" && d[len(d)-1] >= '0' && d[len(d)-1] <= '9' {
		return d
	}
	if d, ok := strings.CutSuffix(dev, s); ok && d != "" {
		return d
	}
	return dev
}

// link names one device. fresh asks the controller again instead of using the cached name
// (a kernel name can be reused by a different disk after a detach). hotplug (a kernel "add"
// event) also asks EC2 again for a volume's attachment device instead of using the cached
// answer: a volume detached and attached again under another name is a new attachment.
func (l *nvmeLinker) link(ctx context.Context, dev string, partn int, fresh, hotplug bool) {
	if !strings.HasPrefix(dev, "nvme") || strings.Contains(dev, "/") {
		return
	}
	disk := dev
	if partn > 0 {
		disk = diskOf(dev, partn)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	name, cached := l.names[disk]
	if !cached || fresh && partn == 0 {
		name = l.lookup(ctx, disk, hotplug)
		l.names[disk] = name
	}
	if name == "" {
		return
	}
	l.makeLink(nvme.LinkName(name, partn), dev)
}

// lookup returns the EC2 name of an NVMe disk, "" when it has none. refresh drops the cached
// attachment device of the disk's volume first.
func (l *nvmeLinker) lookup(ctx context.Context, disk string, refresh bool) string {
	data, err := l.dh.NVMeIdentify("/dev/" + disk)
	if err != nil {
		console.Debugf("nvme: %s: %v", disk, err)
		return ""
	}
	c, err := nvme.ParseIdentify(data)
	if err != nil {
		console.Debugf("nvme: %s: %v", disk, err)
		return ""
	}
	if name, ok := nvme.EBSName(c); ok {
		return name
	}
	if c.IsAmazon() {
		return "" // an Amazon controller without a recorded name: nothing to ask EC2
	}
	id, ok := nvme.VolumeID(c.Serial)
	if !ok {
		return ""
	}
	if refresh {
		delete(l.volumes, id)
	}
	name, err := l.attachmentName(ctx, id)
	if err != nil {
		console.Warnf("nvme: %s (serial %s): %v", disk, c.Serial, err)
		return ""
	}
	return name
}

// attachmentName asks EC2 which device name volume id is attached as on this instance.
func (l *nvmeLinker) attachmentName(ctx context.Context, id string) (string, error) {
	if n, ok := l.volumes[id]; ok {
		return n, nil
	}
	c, err := l.rt.aws().EC2(ctx)
	if err != nil {
		return "", fmt.Errorf("looking up %s: %w", id, err)
	}
	if l.instanceID == "" && l.rt.IMDS != nil {
		if iid, err := l.rt.IMDS.GetString(ctx, "meta-data/instance-id"); err == nil {
			l.instanceID = strings.TrimSpace(iid)
		}
	}
	out, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil {
		return "", fmt.Errorf("EC2 DescribeVolumes %s: %s", id, awsErr(err))
	}
	for _, v := range out.Volumes {
		for _, a := range v.Attachments {
			if l.instanceID != "" && aws.ToString(a.InstanceId) != l.instanceID {
				continue
			}
			name := strings.TrimPrefix(aws.ToString(a.Device), "/dev/")
			if !nvme.ValidName(name) {
				continue
			}
			l.volumes[id] = name
			return name, nil
		}
	}
	return "", fmt.Errorf("EC2 shows %s attached to no device of instance %q", id, l.instanceID)
}

// makeLink points /dev/<name> at the kernel device dev (relative target), replacing a link to
// anything else.
func (l *nvmeLinker) makeLink(name, dev string) {
	if !nvme.ValidName(name) || name == dev {
		return
	}
	h := l.rt.Host
	p := "/dev/" + name
	if fi, err := h.Lstat(p); err == nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			console.Debugf("nvme: %s is a device node, not replacing it with a link to %s", p, dev)
			return
		}
		if cur, err := l.dh.Readlink(p); err == nil && cur == dev {
			return
		}
		if err := h.Remove(p); err != nil {
			console.Warnf("nvme: replacing stale link %s: %v", p, err)
			return
		}
	}
	if err := h.Symlink(dev, p); err != nil {
		console.Warnf("nvme: linking %s to %s: %v", p, dev, err)
		return
	}
	console.Infof("nvme: %s -> %s", p, dev)
}

// rescanNVMe links devices again (a wait for a device name calls it now and then, in case a
// lookup failed when the device appeared).
func (rt *Runtime) rescanNVMe(ctx context.Context) {
	rt.nvmeLinker(rt.Host).coldplug(ctx)
}
