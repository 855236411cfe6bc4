// Package plan holds the boot plan: the typed, versioned contract between stage one (which
// compiles it from image metadata and user data) and stage two (which executes it).
//
// Every default is filled in by Compile; stage two never guesses. The plan never holds a
// secret value: values fetched from S3, SSM or Secrets Manager exist only in stage two.
package plan

import "time"

// Version is the schema version this code writes and the only one it reads.
const Version = 1

// DefaultPath is appended to the command's environment when no PATH is set.
const DefaultPath = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"

// Well-known locations of the easyto AMI layout.
const (
	PlanPath     = "/.easyto/run/plan.toml"
	ReportPath   = "/.easyto/run/report.toml"
	UserDataPath = "/.easyto/var/lib/user-data"
	MetadataPath = "/.easyto/metadata.json"
	ServicesDir  = "/.easyto/services"
	RunDir       = "/.easyto/run"
	DefaultShell = "/.easyto/bin/sh"
)

// Plan is the whole boot plan. Empty lists are nil (so a decoded plan equals the encoded one).
type Plan struct {
	Version     int          `toml:"version" json:"version"`
	Debug       bool         `toml:"debug" json:"debug"`
	Source      Source       `toml:"source" json:"source"`
	Network     Network      `toml:"network" json:"network"`
	Command     Command      `toml:"command" json:"command"`
	Env         []EnvVar     `toml:"env,omitempty" json:"env,omitempty"`
	EnvFrom     []EnvFrom    `toml:"env_from,omitempty" json:"env_from,omitempty"`
	Volumes     []Volume     `toml:"volume,omitempty" json:"volume,omitempty"`
	Modules     []Module     `toml:"module,omitempty" json:"module,omitempty"`
	Sysctls     []Sysctl     `toml:"sysctl,omitempty" json:"sysctl,omitempty"`
	InitScripts []InitScript `toml:"init_script,omitempty" json:"init_script,omitempty"`
	Services    []Service    `toml:"service,omitempty" json:"service,omitempty"`
}

// Source records where the plan came from, so a person can tell which inputs produced it.
type Source struct {
	UserData       bool      `toml:"user_data" json:"user_data"`                                   // user data was present (non-empty)
	UserDataSHA256 string    `toml:"user_data_sha256,omitempty" json:"user_data_sha256,omitempty"` // of the raw bytes as fetched (before gunzip)
	MetadataSHA256 string    `toml:"metadata_sha256,omitempty" json:"metadata_sha256,omitempty"`
	CompiledAt     time.Time `toml:"compiled_at" json:"compiled_at"`
	Compiler       string    `toml:"compiler" json:"compiler"` // "bootplan <version>"
	Warnings       []string  `toml:"warnings,omitempty" json:"warnings,omitempty"`
}

// Network is what stage one configured. Stage two only reads it (hostname, report, show).
type Network struct {
	Configured   bool     `toml:"configured" json:"configured"`
	Interface    string   `toml:"interface,omitempty" json:"interface,omitempty"`
	MAC          string   `toml:"mac,omitempty" json:"mac,omitempty"`
	Address      string   `toml:"address,omitempty" json:"address,omitempty"` // CIDR, e.g. 10.0.0.5/24
	Gateway      string   `toml:"gateway,omitempty" json:"gateway,omitempty"`
	MTU          int      `toml:"mtu,omitempty" json:"mtu,omitempty"`
	DNS          []string `toml:"dns,omitempty" json:"dns,omitempty"`
	Domain       string   `toml:"domain,omitempty" json:"domain,omitempty"`
	Search       []string `toml:"search,omitempty" json:"search,omitempty"`
	Routes       []Route  `toml:"route,omitempty" json:"route,omitempty"` // classless static routes (option 121)
	Hostname     string   `toml:"hostname,omitempty" json:"hostname,omitempty"`
	DHCPServer   string   `toml:"dhcp_server,omitempty" json:"dhcp_server,omitempty"`
	LeaseSeconds int      `toml:"lease_seconds,omitempty" json:"lease_seconds,omitempty"`
	IMDSEndpoint string   `toml:"imds_endpoint,omitempty" json:"imds_endpoint,omitempty"`
	OtherIfaces  []string `toml:"other_interfaces,omitempty" json:"other_interfaces,omitempty"` // left unconfigured
	// Families lists the address families configured on the interface ("ipv4", "ipv6"); the
	// fields above are IPv4's, IPv6 holds the other family's.
	Families []string  `toml:"families,omitempty" json:"families,omitempty"`
	IPv6     *Network6 `toml:"ipv6,omitempty" json:"ipv6,omitempty"`
}

// Network6 is the IPv6 side of the primary interface: router advertisements (SLAAC, default
// route) and DHCPv6.
type Network6 struct {
	Addresses    []string `toml:"addresses" json:"addresses"`                             // CIDR: the DHCPv6 /128 and any SLAAC /64 address
	Gateway      string   `toml:"gateway,omitempty" json:"gateway,omitempty"`             // default router from the RA (link-local)
	DNS          []string `toml:"dns,omitempty" json:"dns,omitempty"`                     // DHCPv6 option 23
	Search       []string `toml:"search,omitempty" json:"search,omitempty"`               // DHCPv6 option 24
	DHCPv6Server string   `toml:"dhcpv6_server,omitempty" json:"dhcpv6_server,omitempty"` // server DUID; "" = SLAAC only
	LeaseSeconds int      `toml:"lease_seconds,omitempty" json:"lease_seconds,omitempty"` // valid lifetime of the DHCPv6 address
}

// Route is one classless static route.
type Route struct {
	Destination string `toml:"destination" json:"destination"` // CIDR
	Gateway     string `toml:"gateway" json:"gateway"`
}

// Command is the workload. Argv is unexpanded: $(VAR) references are resolved by stage two.
type Command struct {
	Argv          []string `toml:"argv" json:"argv"` // never empty after Compile
	WorkingDir    string   `toml:"working_dir" json:"working_dir"`
	UID           uint32   `toml:"uid" json:"uid"`
	GID           uint32   `toml:"gid" json:"gid"`
	Groups        []uint32 `toml:"groups,omitempty" json:"groups,omitempty"` // supplementary groups
	ReplaceInit   bool     `toml:"replace_init" json:"replace_init"`
	ReadonlyRoot  bool     `toml:"readonly_root" json:"readonly_root"`
	ShutdownGrace int      `toml:"shutdown_grace_seconds" json:"shutdown_grace_seconds"`
	// Reboot is what the machine does once the workload has stopped and the clean shutdown is
	// done: reboot instead of power off. Stage one sets it from BOOTPLAN_SHUTDOWN=reboot on
	// the kernel command line (Inputs.RebootOnExit); user data has no key for it. Failed boots
	// follow BOOTPLAN_ON_FAILURE instead.
	Reboot bool `toml:"reboot" json:"reboot"`
}

// EnvVar is one static environment entry; Value may hold $(VAR) references.
// Literal entries (the image's own Env) are used verbatim by ResolveEnv, never expanded.
type EnvVar struct {
	Name    string `toml:"name" json:"name"`
	Value   string `toml:"value" json:"value"`
	Literal bool   `toml:"literal,omitempty" json:"literal,omitempty"`
}

// Env-from and volume kinds.
const (
	KindIMDS           = "imds"
	KindS3             = "s3"
	KindSSM            = "ssm"
	KindSecretsManager = "secrets-manager"
	KindEBS            = "ebs"
	KindTemplate       = "template"
)

// EnvFrom is one external source of environment variables. With Name, the whole value is one
// variable; without, the value must be a one-level JSON object whose members become variables.
type EnvFrom struct {
	Kind     string `toml:"kind" json:"kind"`
	Name     string `toml:"name,omitempty" json:"name,omitempty"`
	Path     string `toml:"path,omitempty" json:"path,omitempty"` // imds (relative to /latest/meta-data/), ssm
	Bucket   string `toml:"bucket,omitempty" json:"bucket,omitempty"`
	Key      string `toml:"key,omitempty" json:"key,omitempty"`
	SecretID string `toml:"secret_id,omitempty" json:"secret_id,omitempty"`
	Base64   bool   `toml:"base64_encode" json:"base64_encode"`
	Optional bool   `toml:"optional" json:"optional"`
}

// Volume is one volume or pseudo-volume with every field resolved.
type Volume struct {
	Kind        string `toml:"kind" json:"kind"`
	Destination string `toml:"destination,omitempty" json:"destination,omitempty"` // "" only for an ebs volume without mount
	Optional    bool   `toml:"optional" json:"optional"`
	UID         uint32 `toml:"uid" json:"uid"` // owner; defaults to the run-as user
	GID         uint32 `toml:"gid" json:"gid"`
	Mode        Mode   `toml:"mode" json:"mode"` // ebs: mounted root dir; files: file mode

	// ebs. Mode, UID and GID are what the filesystem's root directory gets when stage two has
	// just made the filesystem. On an existing filesystem only those user data gave
	// (ModeGiven, UIDGiven, GIDGiven) are applied, at every boot; the others are left as they
	// are, so the application's own mode and owner (a 0700 data directory) survive a reboot.
	ModeGiven    bool        `toml:"mode_given,omitempty" json:"mode_given,omitempty"`
	UIDGiven     bool        `toml:"uid_given,omitempty" json:"uid_given,omitempty"`
	GIDGiven     bool        `toml:"gid_given,omitempty" json:"gid_given,omitempty"`
	Device       string      `toml:"device,omitempty" json:"device,omitempty"`
	FSType       string      `toml:"fs_type,omitempty" json:"fs_type,omitempty"`
	MountOptions []string    `toml:"mount_options,omitempty" json:"mount_options,omitempty"`
	Attachment   *Attachment `toml:"attachment,omitempty" json:"attachment,omitempty"`

	// s3
	Bucket    string `toml:"bucket,omitempty" json:"bucket,omitempty"`
	KeyPrefix string `toml:"key_prefix,omitempty" json:"key_prefix,omitempty"`

	// ssm
	Path string `toml:"path,omitempty" json:"path,omitempty"`

	// secrets-manager
	SecretID string `toml:"secret_id,omitempty" json:"secret_id,omitempty"`

	// template: Variables is the YAML variables value as JSON ("" = render Content literally).
	Content   string `toml:"content,omitempty" json:"content,omitempty"`
	Variables string `toml:"variables_json,omitempty" json:"variables_json,omitempty"`
}

// Attachment asks stage two to attach an available EBS volume found by tags.
type Attachment struct {
	Tags           []Tag `toml:"tag,omitempty" json:"tag,omitempty"`
	TimeoutSeconds int   `toml:"timeout_seconds" json:"timeout_seconds"`
}

// Tag filters volumes; without a value only the key must exist.
type Tag struct {
	Key      string `toml:"key" json:"key"`
	Value    string `toml:"value,omitempty" json:"value,omitempty"`
	HasValue bool   `toml:"has_value" json:"has_value"`
}

// Module is a kernel module to load, with optional parameters ("name=value").
type Module struct {
	Name   string   `toml:"name" json:"name"`
	Params []string `toml:"params,omitempty" json:"params,omitempty"`
}

// Sysctl is one /proc/sys setting; Name uses dots (net.ipv4.ip_forward), and a '/' inside a
// component stands for a dot in the file name (net.ipv4.conf.eth0/100.forwarding), as in
// sysctl(8). SysctlPath gives the file.
type Sysctl struct {
	Name  string `toml:"name" json:"name"`
	Value string `toml:"value" json:"value"`
}

// InitScript is the full text of one script, run in list order before the command.
type InitScript struct {
	Content string `toml:"content" json:"content"`
}

// Service is one service found under /.easyto/services, enabled or not.
type Service struct {
	Name     string   `toml:"name" json:"name"`
	Enabled  bool     `toml:"enabled" json:"enabled"`
	Reason   string   `toml:"reason,omitempty" json:"reason,omitempty"` // why disabled
	Optional bool     `toml:"optional" json:"optional"`                 // failure to start is not fatal
	Argv     []string `toml:"argv,omitempty" json:"argv,omitempty"`
}
