package stage2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sys/unix"

	"github.com/bootplan/bootplan/internal/backoff"
	"github.com/bootplan/bootplan/internal/console"
	"github.com/bootplan/bootplan/internal/fsprobe"
	"github.com/bootplan/bootplan/internal/fsutil"
	"github.com/bootplan/bootplan/internal/mountopt"
	"github.com/bootplan/bootplan/plan"
)

// Defaults for EBS waits (variables so tests can shorten them).
var (
	DefaultDeviceWait     = 30 * time.Second  // a plain ebs volume (from the block device mapping)
	DefaultAttachmentWait = 300 * time.Second // attachment without timeout_seconds
)

const (
	MkfsDir           = "/.easyto/sbin"
	deviceRescanEvery = 3 * time.Second
	attachBackoffBase = 100 * time.Millisecond
	attachBackoffCap  = 10 * time.Second
	deviceBackoffCap  = time.Second
)

// sleepCtx waits d or until ctx is done; a variable so tests can run without waiting.
var sleepCtx = backoff.Sleep

// clockNow is the clock of the EBS waits; a variable so tests can use a fake one.
var clockNow = time.Now

// PrepareEBS makes one ebs volume ready: attaches it by tags when the plan says so, waits for
// its device, formats it only when the device is entirely blank, mounts it with its options
// and gives the mounted filesystem's root directory the volume's mode and owner.
//
// A device that holds anything else than the requested filesystem — another filesystem, a
// partition table, swap, LUKS or unknown data — is never formatted: the step fails naming the
// device and what it holds.
func (rt *Runtime) PrepareEBS(ctx context.Context, v plan.Volume) error {
	if v.Device == "" || !strings.HasPrefix(v.Device, "/dev/") || strings.Contains(v.Device, "..") {
		return fmt.Errorf("ebs volume: device %q: want a /dev path such as /dev/sdf", v.Device)
	}
	wait := DefaultDeviceWait
	if v.Attachment != nil {
		wait = DefaultAttachmentWait
		if v.Attachment.TimeoutSeconds > 0 {
			wait = time.Duration(v.Attachment.TimeoutSeconds) * time.Second
		}
	}
	// One deadline for the attachment and the device: the timeout bounds both together.
	deadline := clockNow().Add(wait)
	if v.Attachment != nil {
		if err := rt.attachByTags(ctx, v, wait, deadline); err != nil {
			return err
		}
	}
	if err := rt.waitForDevice(ctx, v.Device, wait, deadline); err != nil {
		return err
	}
	if v.Destination == "" {
		return nil
	}
	dev := rt.describeDevice(v.Device)
	opts, err := mountopt.Parse(v.MountOptions)
	if err != nil {
		return fmt.Errorf("ebs %s: %w", v.Device, err)
	}
	if len(opts.Ignored) > 0 {
		console.Debugf("ebs %s: ignoring fstab-only options %s", v.Device, strings.Join(opts.Ignored, ","))
	}
	made, err := rt.ensureFilesystem(ctx, v, dev)
	if err != nil {
		return err
	}
	if _, err := rt.Host.MkdirAll(v.Destination, 0o755); err != nil {
		return fmt.Errorf("ebs %s: mount point %s: %w", dev, v.Destination, err)
	}
	if err := rt.Host.Mount(v.Device, v.Destination, v.FSType, opts.Flags, opts.Data); err != nil {
		return fmt.Errorf("ebs %s: mounting on %s as %s: %w", dev, v.Destination, v.FSType, err)
	}
	if opts.Flags&unix.MS_RDONLY != 0 {
		console.Infof("ebs %s mounted read-only on %s (%s); mode and owner left as they are", dev, v.Destination, v.FSType)
		return nil
	}
	// The root of a filesystem just made gets the plan's mode and owner; on an existing one
	// only what user data gave is applied (at every boot), the rest stays as the application
	// left it.
	if made || v.ModeGiven {
		if err := rt.Host.Chmod(v.Destination, unixMode(v.Mode)); err != nil {
			return fmt.Errorf("ebs %s: mode %s on %s: %w", dev, v.Mode, v.Destination, err)
		}
	}
	uid, gid := -1, -1
	if made || v.UIDGiven {
		uid = int(v.UID)
	}
	if made || v.GIDGiven {
		gid = int(v.GID)
	}
	if uid >= 0 || gid >= 0 {
		if err := rt.Host.Chown(v.Destination, uid, gid); err != nil {
			return fmt.Errorf("ebs %s: owner %s on %s: %w", dev, owner(uid, gid), v.Destination, err)
		}
	}
	console.Infof("ebs %s mounted on %s (%s)", dev, v.Destination, v.FSType)
	return nil
}

// unixMode converts permission bits written as in chmod (04755) to an fs.FileMode.
func unixMode(m plan.Mode) fs.FileMode { return fsutil.UnixPerm(uint32(m)) }

// describeDevice names a device for messages: "/dev/sdf (nvme1n1)" for a link.
func (rt *Runtime) describeDevice(dev string) string {
	if t, err := rt.Host.Readlink(dev); err == nil {
		return fmt.Sprintf("%s (%s)", dev, path.Base(t))
	}
	return dev
}

// ensureFilesystem probes the device and formats it only when it is blank.
func (rt *Runtime) ensureFilesystem(ctx context.Context, v plan.Volume, dev string) (made bool, err error) {
	b, err := rt.Host.ReadDevice(v.Device, 0, fsprobe.ProbeSize)
	if err != nil {
		return false, fmt.Errorf("ebs %s: reading the device to look for a filesystem: %w", dev, err)
	}
	if len(b) == 0 {
		return false, fmt.Errorf("ebs %s: the device reads as empty (size 0?): not formatting it", dev)
	}
	found := fsprobe.Probe(b)
	switch {
	case found.Type == v.FSType:
		console.Infof("ebs %s holds %s: keeping it", dev, found)
		return false, nil
	case found.Type != fsprobe.Blank:
		return false, fmt.Errorf("ebs %s holds %s, plan asks for %s: refusing to format a disk that holds data (wipe it yourself, or set fs-type to what it holds)", dev, found, v.FSType)
	}
	mkfs := MkfsDir + "/mkfs." + v.FSType
	if _, err := rt.Host.Stat(mkfs); err != nil {
		return false, fmt.Errorf("ebs %s is blank but %s is missing: this image cannot make %s filesystems", dev, mkfs, v.FSType)
	}
	// stdin is a pipe at end of file: mkfs must never wait on a terminal.
	r, err := pipeEOF()
	if err != nil {
		return false, fmt.Errorf("ebs %s: %w", dev, err)
	}
	defer r.Close()
	start := time.Now()
	st, err := rt.Host.Run(ctx, Cmd{
		Path:  mkfs,
		Args:  []string{"mkfs." + v.FSType, "-q", v.Device},
		Env:   []string{"PATH=" + MkfsDir + ":/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdin: r,
	})
	if err != nil {
		return false, fmt.Errorf("ebs %s: running %s: %w", dev, mkfs, err)
	}
	if !st.Exited || st.Code != 0 {
		return false, fmt.Errorf("ebs %s: %s failed (%s)", dev, mkfs, exitText(st))
	}
	console.Infof("ebs %s was blank: made %s in %s", dev, v.FSType, time.Since(start).Round(time.Millisecond))
	return true, nil
}

func exitText(st ExitStatus) string {
	if st.Exited {
		return fmt.Sprintf("exit status %d", st.Code)
	}
	// The signal's name (SIGKILL), not its description ("killed by killed").
	if name := unix.SignalName(st.Signal); name != "" {
		return "killed by " + name
	}
	return "killed by " + st.Signal.String()
}

// waitForDevice waits until dev exists (a node, or a link made by LinkNVMe) or the deadline
// (wait after the start of the volume's preparation) passes, rescanning the NVMe names now
// and then.
func (rt *Runtime) waitForDevice(ctx context.Context, dev string, wait time.Duration, deadline time.Time) error {
	lastScan := clockNow()
	for attempt := 0; ; attempt++ {
		if _, err := rt.Host.Stat(dev); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ebs %s: %w", dev, err)
		}
		if !clockNow().Before(deadline) {
			return fmt.Errorf("ebs %s: the device did not appear within %s (no disk is attached under that name: check the block device mapping or the attachment)", dev, wait)
		}
		if clockNow().Sub(lastScan) >= deviceRescanEvery {
			rt.rescanNVMe(ctx)
			lastScan = clockNow()
		}
		d := min(backoff.Delay(attachBackoffBase, deviceBackoffCap, attempt), deadline.Sub(clockNow()))
		if err := sleepCtx(ctx, max(d, time.Millisecond)); err != nil {
			return err
		}
	}
}

// tagFilters are EC2 filters for the plan's tags: tag:<key>=<value>, or tag-key=<key>.
func tagFilters(tags []plan.Tag) []ec2types.Filter {
	var f []ec2types.Filter
	for _, t := range tags {
		if t.HasValue {
			f = append(f, ec2types.Filter{Name: aws.String("tag:" + t.Key), Values: []string{t.Value}})
		} else {
			f = append(f, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{t.Key}})
		}
	}
	return f
}

func tagText(tags []plan.Tag) string {
	if len(tags) == 0 {
		return "any tags"
	}
	var s []string
	for _, t := range tags {
		if t.HasValue {
			s = append(s, t.Key+"="+t.Value)
		} else {
			s = append(s, t.Key)
		}
	}
	return "tags " + strings.Join(s, ", ")
}

func filter(name, value string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: []string{value}}
}

// attachByTags attaches an available volume with the plan's tags in this instance's AZ,
// unless one is already attached under the device name, retrying until deadline (wait after
// the start of the volume's preparation).
func (rt *Runtime) attachByTags(ctx context.Context, v plan.Volume, wait time.Duration, deadline time.Time) error {
	// Compile and Validate refuse this; a hand-written plan must not get that far either:
	// without a tag filter any available volume in the zone would match and be handed over.
	if len(v.Attachment.Tags) == 0 {
		return fmt.Errorf("ebs %s: attachment without tags refused: it would take any available volume in the zone; list the volume's tags", v.Device)
	}
	if rt.IMDS == nil {
		return fmt.Errorf("ebs %s: attachment needs IMDS for the instance id and availability zone", v.Device)
	}
	iid, err := rt.IMDS.GetString(ctx, "meta-data/instance-id")
	if err != nil {
		return fmt.Errorf("ebs %s: instance id from IMDS: %w", v.Device, err)
	}
	az, err := rt.IMDS.GetString(ctx, "meta-data/placement/availability-zone")
	if err != nil {
		return fmt.Errorf("ebs %s: availability zone from IMDS: %w", v.Device, err)
	}
	iid, az = strings.TrimSpace(iid), strings.TrimSpace(az)
	c, err := rt.aws().EC2(ctx)
	if err != nil {
		return fmt.Errorf("ebs %s: EC2 client: %w", v.Device, err)
	}
	tags := tagFilters(v.Attachment.Tags)
	out, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: append([]ec2types.Filter{
		filter("attachment.instance-id", iid), filter("attachment.device", v.Device)}, tags...)})
	if err != nil {
		return fmt.Errorf("ebs %s: EC2 DescribeVolumes (already attached?): %s", v.Device, awsErr(err))
	}
	if len(out.Volumes) > 0 {
		console.Infof("ebs %s: %s is already attached to %s", v.Device, aws.ToString(out.Volumes[0].VolumeId), iid)
		return nil
	}
	var lastErr string
	for attempt := 0; ; attempt++ {
		vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: append([]ec2types.Filter{
			filter("status", "available"), filter("availability-zone", az)}, tags...)})
		switch {
		case err != nil && isAPIError(err):
			return fmt.Errorf("ebs %s: EC2 DescribeVolumes: %s", v.Device, awsErr(err))
		case err != nil:
			lastErr = awsErr(err) // transport: retry
		case len(vols.Volumes) > 0:
			id := aws.ToString(vols.Volumes[0].VolumeId)
			_, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{Device: aws.String(v.Device), InstanceId: aws.String(iid), VolumeId: aws.String(id)})
			if err == nil {
				console.Infof("ebs %s: attached %s (%s in %s)", v.Device, id, tagText(v.Attachment.Tags), az)
				return nil
			}
			if !raceLost(err) {
				return fmt.Errorf("ebs %s: EC2 AttachVolume %s: %s", v.Device, id, awsErr(err))
			}
			lastErr = fmt.Sprintf("%s was taken by another instance (%s)", id, awsErr(err))
		default:
			lastErr = ""
		}
		if !clockNow().Before(deadline) {
			msg := fmt.Sprintf("ebs %s: no available volume with %s in %s after %s", v.Device, tagText(v.Attachment.Tags), az, wait)
			if lastErr != "" {
				msg += " (last: " + lastErr + ")"
			}
			return errors.New(msg + ": check the tags, the availability zone, and that the volume is not attached elsewhere")
		}
		if attempt == 0 {
			console.Infof("ebs %s: waiting for an available volume with %s in %s", v.Device, tagText(v.Attachment.Tags), az)
		}
		d := min(backoff.Delay(attachBackoffBase, attachBackoffCap, attempt), deadline.Sub(clockNow()))
		if err := sleepCtx(ctx, max(d, time.Millisecond)); err != nil {
			return err
		}
	}
}

func isAPIError(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae)
}

// raceLost reports an AttachVolume refusal because another instance got the volume first.
func raceLost(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "VolumeInUse", "IncorrectState":
		return true
	}
	return false
}

// pipeEOF returns the read end of a pipe whose write end is closed: a stdin that reads as end
// of file, so a tool that asks a question gets no answer instead of waiting on a terminal.
func pipeEOF() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	w.Close()
	return r, nil
}
