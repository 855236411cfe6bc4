package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// DefaultShutdownGrace is the shutdown grace period (seconds) when user data sets none.
const DefaultShutdownGrace = 10

// DefaultAttachTimeout is the EBS attachment timeout (seconds) when user data sets none.
const DefaultAttachTimeout = 300

// DefaultMetadataFile names metadata.json in diagnostics.
const DefaultMetadataFile = "metadata.json"

// Service commands.
var (
	ChronyArgv = []string{"/.easyto/sbin/chronyd", "-d"}
	SSHDArgv   = []string{"/.easyto/sbin/sshd", "-D", "-f", "/.easyto/etc/ssh/sshd_config", "-e"}
)

// Inputs is everything Compile reads. Compile does no I/O: callers read the files.
type Inputs struct {
	RawUserData []byte // as fetched (may be gzip); nil or empty = no user data
	Metadata    []byte // metadata.json; nil or empty = no image config (the caller decides if that is fatal)
	Passwd      []byte // the image's /etc/passwd
	Group       []byte // the image's /etc/group
	Services    []string
	Network     Network
	Now         time.Time
	Strict      bool   // unknown and duplicate keys are errors (bootplan validate), else warnings
	Version     string // compiler version, recorded as "bootplan <version>"

	// RebootOnExit becomes Command.Reboot: reboot instead of power off after the clean
	// shutdown. A fact stage one reads from the kernel command line (BOOTPLAN_SHUTDOWN=reboot).
	RebootOnExit bool

	// SkipUserLookup leaves the image User unresolved (uid/gid 0 unless user data sets them),
	// for `bootplan validate` without an image root (no passwd/group to look names up in).
	SkipUserLookup bool

	// Names used in diagnostics (defaults "user-data" and "metadata.json").
	UserDataFile string
	MetadataFile string
}

// Compile merges the image config and user data into a plan, filling in every default. It
// returns the diagnostics (warnings, and errors when it fails) in any case; on failure the
// plan is nil and the error is a *DiagnosticsError (or a plan-invariant error, a bug).
func Compile(in Inputs) (*Plan, Diagnostics, error) {
	ufile, mfile := in.UserDataFile, in.MetadataFile
	if ufile == "" {
		ufile = DefaultUserDataFile
	}
	if mfile == "" {
		mfile = DefaultMetadataFile
	}
	var diags Diagnostics
	img, d := ParseImageConfig(mfile, in.Metadata)
	diags = append(diags, d...)
	diags = append(diags, imageNULDiags(img, mfile)...)
	ud, d := ParseUserData(ufile, in.RawUserData, in.Strict)
	diags = append(diags, d...)
	if img == nil {
		img = &ImageConfig{}
	}
	hasUserData := ud != nil
	if ud == nil {
		ud = &UserData{}
	}

	// The run-as user: the image's User, then security.run-as-user-id / run-as-group-id.
	var ids UserIDs
	if img.User != nil && *img.User != "" && !in.SkipUserLookup {
		r, err := ResolveUser(*img.User, in.Passwd, in.Group)
		if err != nil {
			diags = append(diags, Diagnostic{File: mfile, Path: "config.User", Message: err.Error(), Severity: SeverityError})
		}
		ids = r
	}
	sec := ud.Security.V
	if sec.RunAsUserID.Has() {
		// Like `docker run --user UID`: without run-as-group-id the primary group comes from
		// the image's passwd entry for that uid (0 if none), and the supplementary groups are
		// that user's.
		ids.UID = sec.RunAsUserID.V
		gid, groups, _ := groupsForUID(ids.UID, in.Passwd, in.Group)
		ids.GID, ids.Groups = gid, groups
	}
	if sec.RunAsGroupID.Has() {
		ids.GID = sec.RunAsGroupID.V
		ids.Groups = removeID(ids.Groups, ids.GID)
	}

	if diags.HasErrors() {
		return nil, diags, diags.Err()
	}

	p := &Plan{Version: Version, Network: in.Network}
	p.Debug = ud.Debug.Has() && ud.Debug.V

	// argv (§1.8): args replace Cmd; command replaces Entrypoint and, without args, drops Cmd.
	command, args := img.Entrypoint, img.Cmd
	if ud.Args.Has() {
		args = ud.Args.V
	}
	if ud.Command.Has() {
		command = ud.Command.V
		if !ud.Args.Has() {
			args = nil
		}
	}
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(append(argv, command...), args...)
	case len(args) > 0:
		argv = append(argv, args...)
	default:
		argv = []string{DefaultShell}
	}
	if argv[0] == "" {
		diags = append(diags, Diagnostic{File: mfile, Path: "config.Entrypoint", Severity: SeverityError,
			Message: "the program (first element of Entrypoint, or of Cmd without Entrypoint) is empty: set command in user data"})
		return nil, diags, diags.Err()
	}

	wd := "/"
	switch {
	case ud.WorkingDir.Has():
		wd = ud.WorkingDir.V
	case img.WorkingDir != nil && *img.WorkingDir != "":
		wd = path.Join("/", *img.WorkingDir) // Docker resolves a relative WORKDIR against /
	}
	grace := DefaultShutdownGrace
	if ud.ShutdownGracePeriod.Has() {
		grace = int(ud.ShutdownGracePeriod.V)
	}
	p.Command = Command{
		Argv:          argv,
		WorkingDir:    wd,
		UID:           ids.UID,
		GID:           ids.GID,
		Groups:        nilIfEmpty(ids.Groups),
		ReplaceInit:   ud.ReplaceInit.Has() && ud.ReplaceInit.V,
		ReadonlyRoot:  sec.ReadonlyRootFS.Has() && sec.ReadonlyRootFS.V,
		ShutdownGrace: grace,
		Reboot:        in.RebootOnExit,
	}

	p.Env = MergeEnv(img.Env, ud.Env.V)
	p.EnvFrom = nilIfEmpty(ud.EnvFrom.V)
	for _, v := range ud.Volumes.V {
		vol := v.Volume
		vol.UID, vol.GID = ids.UID, ids.GID
		if v.UserID.Has() {
			vol.UID = v.UserID.V
		}
		if v.GroupID.Has() {
			vol.GID = v.GroupID.V
		}
		if vol.Kind == KindEBS && vol.Destination != "" {
			vol.ModeGiven, vol.UIDGiven, vol.GIDGiven = v.ModeSet, v.UserID.Has(), v.GroupID.Has()
		}
		p.Volumes = append(p.Volumes, vol)
	}
	p.Modules = nilIfEmpty(ud.Modules.V)
	p.Sysctls = nilIfEmpty(ud.Sysctls.V)
	for _, s := range ud.InitScripts.V {
		p.InitScripts = append(p.InitScripts, InitScript{Content: s})
	}
	p.Services = services(in.Services, ud)

	p.Source = Source{
		UserData:   hasUserData,
		CompiledAt: in.Now.UTC(),
		Compiler:   "bootplan " + orDefault(in.Version, "dev"),
	}
	if len(in.RawUserData) > 0 {
		p.Source.UserDataSHA256 = sha(in.RawUserData)
	}
	if len(in.Metadata) > 0 {
		p.Source.MetadataSHA256 = sha(in.Metadata)
	}
	for _, w := range diags.Warnings() {
		p.Source.Warnings = append(p.Source.Warnings, w.String())
	}
	if err := p.Validate(); err != nil {
		return nil, diags, fmt.Errorf("internal error, please report: compiled %w", err)
	}
	// The plan budget, checked here so that validate and stage one refuse alike.
	if _, err := Encode(p); errors.Is(err, errPlanSize) {
		diags = append(diags, Diagnostic{File: ufile, Message: err.Error(), Severity: SeverityError})
		return nil, diags, diags.Err()
	} else if err != nil {
		return nil, diags, fmt.Errorf("internal error, please report: compiled plan: %w", err)
	}
	return p, diags, nil
}

// MergeEnv applies the env merge rule (§1.8): base entries whose name appears in user are
// dropped, the others keep their order, then every user entry is appended in order (duplicates
// inside user are kept; the last one wins at run time). Sysctls from user data need no merge
// (the image has none).
func MergeEnv(base, user []EnvVar) []EnvVar {
	names := map[string]bool{}
	for _, e := range user {
		names[e.Name] = true
	}
	var out []EnvVar
	for _, e := range base {
		if !names[e.Name] {
			out = append(out, e)
		}
	}
	return append(out, user...)
}

// ServiceNames returns the service names among the entries of /.easyto/services (one rule for
// stage one and `bootplan -root`): regular files, as easyto's asset build makes them with
// touch, and directories; names starting with "." are ignored, as are other kinds (links).
func ServiceNames(entries []fs.DirEntry) []string {
	var names []string
	for _, e := range entries {
		if (e.IsDir() || e.Type().IsRegular()) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

func services(present []string, ud *UserData) []Service {
	names := append([]string(nil), present...)
	sort.Strings(names)
	disabled := map[string]bool{}
	for _, s := range ud.DisableServices.V {
		disabled[s] = true
	}
	var out []Service
	for i, n := range names {
		if n == "" || (i > 0 && names[i-1] == n) {
			continue
		}
		s := Service{Name: n, Enabled: true}
		switch n {
		case "chrony":
			s.Argv = append([]string(nil), ChronyArgv...)
		case "ssh":
			s.Argv = append([]string(nil), SSHDArgv...)
			s.Optional = true
		default:
			s.Enabled, s.Reason = false, "unknown service"
		}
		switch {
		case !s.Enabled:
		case disabled[n]:
			s.Enabled, s.Reason = false, "listed in disable-services"
		case n == "ssh" && ud.Security.V.SSHDEnable.Has() && !ud.Security.V.SSHDEnable.V:
			s.Enabled, s.Reason = false, "security.sshd.enable is false"
		}
		out = append(out, s)
	}
	return out
}

func removeID(ids []uint32, id uint32) []uint32 {
	var out []uint32
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
