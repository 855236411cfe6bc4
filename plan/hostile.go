package plan

import (
	"fmt"
	"math"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rules that keep careless or hostile user data from doing damage at boot: one device for two
// EBS volumes (both would see it blank and run mkfs), two volumes writing to one place, the
// id (uid_t)-1, NUL bytes the kernel would cut strings at, and an attachment that would take
// any volume. The user-data parser reports them with line:col (`bootplan validate` and stage
// one alike); Plan.Validate checks the same rules on a plan written by hand.

// NoID is (uid_t)-1: chown(2) and setresuid(2) take it as "leave unchanged", so as a uid or gid
// it fails or silently does nothing. It is refused everywhere an id is accepted.
const NoID = math.MaxUint32

func checkID(v uint32) error {
	if v == NoID {
		return fmt.Errorf("%d is (uid_t)-1, which the kernel reads as \"no change\": use a real id (0..%d)", v, uint32(NoID-1))
	}
	return nil
}

// id is u32 for a uid or gid: NoID is refused.
func (p *parser) id(n *yaml.Node, path string) (uint32, bool) {
	v, ok := p.u32(n, path)
	if !ok {
		return 0, false
	}
	if err := checkID(v); err != nil {
		p.errorf(p.resolve(n), path, "%v", err)
		return 0, false
	}
	return v, true
}

// errNUL is the message for a string holding a NUL byte: argv, environment and paths are C
// strings for the kernel, which would silently cut them there.
const errNUL = "must not contain a NUL byte (the kernel would cut the string there)"

// CanonicalDevice is the name EC2 gives the device a volume names, for comparing devices:
// "/dev/" removed and the Xen "xvd" prefix read as "sd" (/dev/sdf, /dev/xvdf and sdf are one
// device; on Xen instances /dev/sdf appears as /dev/xvdf, on Nitro the NVMe controller records
// "sdf" or "/dev/sdf").
func CanonicalDevice(dev string) string {
	name := strings.TrimPrefix(path.Clean(dev), "/dev/")
	if rest, ok := strings.CutPrefix(name, "xvd"); ok {
		name = "sd" + rest
	}
	return name
}

// volumeConflict is volume j (the later one) clashing with volume i over field.
type volumeConflict struct {
	i, j  int
	field string // "device" or "destination"
	msg   string // names volume i as %[1]s
}

// volumeConflicts finds volumes that would race: two EBS volumes on one device (after
// CanonicalDevice) and two volumes with one destination (stage two runs them at the same
// time). A destination inside another volume's is not a race: stage two runs the volume that
// holds it first (an EBS mount, or files, inside a tree), so the inner volume's files win.
func volumeConflicts(vols []Volume) []volumeConflict {
	var out []volumeConflict
	for j, b := range vols {
		for i, a := range vols[:j] {
			if a.Kind == KindEBS && b.Kind == KindEBS && a.Device != "" && b.Device != "" &&
				CanonicalDevice(a.Device) == CanonicalDevice(b.Device) {
				out = append(out, volumeConflict{i, j, "device", fmt.Sprintf(
					"%s is the same device as %%[1]s (%s): both would see it blank and format it; use one volume per device", b.Device, a.Device)})
			}
			if a.Destination == "" || b.Destination == "" {
				continue
			}
			if db := path.Clean(b.Destination); db == path.Clean(a.Destination) {
				out = append(out, volumeConflict{i, j, "destination", fmt.Sprintf(
					"%s is also %%[1]s: the two volumes would be prepared at the same time and race; give each its own destination", db)})
			}
		}
	}
	return out
}

// volumeAt locates a parsed volume in user data for cross-volume diagnostics.
type volumeAt struct {
	path      string     // "volumes[1].ebs"
	dev, dest *yaml.Node // the device and mount.destination values (nil if absent)
}

// checkVolumeConflicts reports volumeConflicts at the later volume's field.
func (p *parser) checkVolumeConflicts(vols []UserVolume) {
	plain := make([]Volume, len(vols))
	for i, v := range vols {
		plain[i] = v.Volume
	}
	for _, c := range volumeConflicts(plain) {
		a, b := vols[c.i].at, vols[c.j].at
		n, field := b.dest, ".mount.destination"
		ref := a.path + ".mount.destination"
		if c.field == "device" {
			n, field, ref = b.dev, ".device", a.path+".device"
		}
		if n != nil {
			n = p.resolve(n)
		}
		p.errorf(n, b.path+field, c.msg, ref)
	}
}

// hostileProblems is Plan.Validate's part for these rules, as "field: problem" lines.
func (p *Plan) hostileProblems() []string {
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	nul := func(field string, ss ...string) {
		for _, s := range ss {
			if strings.IndexByte(s, 0) >= 0 {
				bad(field, "%s", errNUL)
				return
			}
		}
	}
	id := func(field string, v uint32) {
		if err := checkID(v); err != nil {
			bad(field, "%v", err)
		}
	}
	c := p.Command
	for i, a := range c.Argv {
		nul(fmt.Sprintf("command.argv[%d]", i), a)
	}
	id("command.uid", c.UID)
	id("command.gid", c.GID)
	for i, g := range c.Groups {
		id(fmt.Sprintf("command.groups[%d]", i), g)
	}
	for i, e := range p.Env {
		nul(fmt.Sprintf("env[%d]", i), e.Name, e.Value)
	}
	for i, e := range p.EnvFrom {
		nul(fmt.Sprintf("env_from[%d]", i), e.Name, e.Path, e.Bucket, e.Key, e.SecretID)
	}
	for i, v := range p.Volumes {
		f := fmt.Sprintf("volume[%d]", i)
		nul(f, v.Device, v.Destination, v.FSType, v.Bucket, v.KeyPrefix, v.Path, v.SecretID, v.Variables)
		nul(f+".mount_options", v.MountOptions...)
		id(f+".uid", v.UID)
		id(f+".gid", v.GID)
		if v.Kind == KindEBS && v.Attachment != nil && len(v.Attachment.Tags) == 0 {
			bad(f+".attachment.tag", "%s", errNoTags)
		}
	}
	for _, cf := range volumeConflicts(p.Volumes) {
		bad(fmt.Sprintf("volume[%d].%s", cf.j, cf.field), cf.msg, fmt.Sprintf("volume[%d].%s", cf.i, cf.field))
	}
	for i, m := range p.Modules {
		nul(fmt.Sprintf("module[%d]", i), append([]string{m.Name}, m.Params...)...)
	}
	for i, s := range p.Sysctls {
		nul(fmt.Sprintf("sysctl[%d]", i), s.Name, s.Value)
	}
	return errs
}

// errNoTags refuses an attachment without tags: EC2 would match any available volume in the
// zone, and the volume's root would be handed to the workload.
const errNoTags = "must list at least one tag: without tags any available volume in the zone would be attached (and chowned to the volume's owner)"

// imageNULDiags reports NUL bytes in the image config's strings (a JSON "\u0000").
func imageNULDiags(img *ImageConfig, file string) Diagnostics {
	var ds Diagnostics
	check := func(field string, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			ds = append(ds, Diagnostic{File: file, Path: field, Message: errNUL, Severity: SeverityError})
		}
	}
	if img == nil {
		return nil
	}
	for i, s := range img.Entrypoint {
		check(fmt.Sprintf("config.Entrypoint[%d]", i), s)
	}
	for i, s := range img.Cmd {
		check(fmt.Sprintf("config.Cmd[%d]", i), s)
	}
	for i, e := range img.Env {
		check(fmt.Sprintf("config.Env[%d]", i), e.Name+"="+e.Value)
	}
	if img.User != nil {
		check("config.User", *img.User)
	}
	if img.WorkingDir != nil {
		check("config.WorkingDir", *img.WorkingDir)
	}
	return ds
}

// afterNUL reports whether d is a second complaint about a value already refused for a NUL
// byte (a name check that follows would only say the same less clearly).
func (p *parser) afterNUL(d Diagnostic) bool {
	if d.Severity != SeverityError || d.Message == errNUL {
		return false
	}
	for _, e := range p.diags {
		if e.Message == errNUL && e.Line == d.Line && e.Col == d.Col && e.Path == d.Path {
			return true
		}
	}
	return false
}
