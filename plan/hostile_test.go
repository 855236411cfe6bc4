package plan

import (
	"strings"
	"testing"
)

// The rules of hostile.go as `bootplan validate` (strict Compile) reports them: every error
// line, exactly. want "" means the user data is accepted.
func TestHostileUserData(t *testing.T) {
	const img = `{"config":{"Cmd":["/app"],"Env":["PATH=/bin"]}}`
	tests := []struct {
		name, meta, ud, want string
	}{
		{"same device /dev/sdf and /dev/xvdf", "", `
volumes:
  - ebs: {device: /dev/sdf, mount: {destination: /a, fs-type: ext4}}
  - ebs: {device: /dev/xvdf, mount: {destination: /b, fs-type: ext4}}
`, `user-data:3:19: volumes[1].ebs.device: /dev/xvdf is the same device as volumes[0].ebs.device (/dev/sdf): both would see it blank and format it; use one volume per device`},
		{"same device written twice, one unmounted", "", `
volumes:
  - ebs: {device: /dev/sdg}
  - ebs: {device: /dev/sdg/, mount: {destination: /b, fs-type: xfs}}
`, `user-data:3:19: volumes[1].ebs.device: /dev/sdg is the same device as volumes[0].ebs.device (/dev/sdg): both would see it blank and format it; use one volume per device`},
		{"different devices", "", `
volumes:
  - ebs: {device: /dev/sdf, mount: {destination: /a, fs-type: ext4}}
  - ebs: {device: /dev/xvdg, mount: {destination: /a/b, fs-type: ext4}}
`, ""},
		{"equal destinations, file volumes", "", `
volumes:
  - s3: {bucket: b, mount: {destination: /etc/app}}
  - template: {content: x, mount: {destination: /etc/app/}}
`, `user-data:3:49: volumes[1].template.mount.destination: /etc/app is also volumes[0].s3.mount.destination: the two volumes would be prepared at the same time and race; give each its own destination`},
		{"equal destinations, ebs and ssm", "", `
volumes:
  - ssm: {path: /x, mount: {destination: /data}}
  - ebs: {device: /dev/sdf, mount: {destination: /data, fs-type: ext4}}
`, `user-data:3:50: volumes[1].ebs.mount.destination: /data is also volumes[0].ssm.mount.destination: the two volumes would be prepared at the same time and race; give each its own destination`},
		{"nested destinations are ordered, not refused", "", `
volumes:
  - ssm: {path: /app, mount: {destination: /etc/app}}
  - secrets-manager: {secret-id: k, mount: {destination: /etc/app/key.pem}}
  - ebs: {device: /dev/sdf, mount: {destination: /etc/app/db, fs-type: ext4}}
`, ""},
		{"uid -1 everywhere", "", `
security: {run-as-user-id: 4294967295, run-as-group-id: 4294967295}
volumes:
  - ssm: {path: /x, mount: {destination: /d, user-id: 4294967295, group-id: "4294967295"}}
`, `user-data:1:28: security.run-as-user-id: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)
user-data:1:57: security.run-as-group-id: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)
user-data:3:55: volumes[0].ssm.mount.user-id: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)
user-data:3:77: volumes[0].ssm.mount.group-id: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)`},
		{"uid 4294967294 is fine", "", "security: {run-as-user-id: 4294967294}\n", ""},
		{"image user -1", `{"config":{"Cmd":["/app"],"User":"4294967295"}}`, "", `metadata.json: config.User: user "4294967295": invalid id "4294967295" (want 0..4294967294)`},
		{"NUL in argv, env, paths", "", `
command: ["/app\0x"]
args: ["a", "b\0"]
env: [{name: "A\0", value: v}, {name: B, value: "v\0"}]
working-dir: "/srv\0"
env-from: [{secrets-manager: {secret-id: "s\0"}}]
volumes:
  - s3: {bucket: b, key-prefix: "p\0", mount: {destination: "/d\0"}}
sysctls: [{name: a.b, value: "1\0"}]
`, `user-data:1:11: command[0]: must not contain a NUL byte (the kernel would cut the string there)
user-data:2:13: args[1]: must not contain a NUL byte (the kernel would cut the string there)
user-data:3:14: env[0].name: must not contain a NUL byte (the kernel would cut the string there)
user-data:3:49: env[1].value: must not contain a NUL byte (the kernel would cut the string there)
user-data:4:14: working-dir: must not contain a NUL byte (the kernel would cut the string there)
user-data:5:42: env-from[0].secrets-manager.secret-id: must not contain a NUL byte (the kernel would cut the string there)
user-data:7:33: volumes[0].s3.key-prefix: must not contain a NUL byte (the kernel would cut the string there)
user-data:7:61: volumes[0].s3.mount.destination: must not contain a NUL byte (the kernel would cut the string there)
user-data:8:30: sysctls[0].value: must not contain a NUL byte (the kernel would cut the string there)`},
		{"NUL in file contents is data", "", `
init-scripts: ["#!/bin/sh\n: \0\n"]
volumes:
  - template: {content: "a\0b", mount: {destination: /t}}
`, ""},
		{"NUL in the image config", `{"config":{"Entrypoint":["/app\u0000"],"Env":["A=b\u0000"]}}`, "", `metadata.json: config.Entrypoint[0]: must not contain a NUL byte (the kernel would cut the string there)
metadata.json: config.Env[0]: must not contain a NUL byte (the kernel would cut the string there)`},
		{"attachment without tags", "", `
volumes:
  - ebs: {device: /dev/sdf, attachment: {timeout: 30}}
  - ebs: {device: /dev/sdg, attachment: {tags: []}}
  - ebs: {device: /dev/sdh, attachment: {tags: null}}
  - ebs: {device: /dev/sdi, attachment: [{tags: [{key: Name, value: data}]}]}
`, `user-data:2:41: volumes[0].ebs.attachment.tags: must list at least one tag: without tags any available volume in the zone would be attached (and chowned to the volume's owner)
user-data:3:48: volumes[1].ebs.attachment.tags: must list at least one tag: without tags any available volume in the zone would be attached (and chowned to the volume's owner)
user-data:4:48: volumes[2].ebs.attachment.tags: must list at least one tag: without tags any available volume in the zone would be attached (and chowned to the volume's owner)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := tt.meta
			if meta == "" {
				meta = img
			}
			_, diags, err := Compile(Inputs{Metadata: []byte(meta), RawUserData: []byte(strings.TrimPrefix(tt.ud, "\n")), Strict: true, SkipUserLookup: tt.meta == ""})
			got := diags.Errors().String()
			if got != tt.want {
				t.Fatalf("errors:\n%s\nwant:\n%s", got, tt.want)
			}
			if (err == nil) != (tt.want == "") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// Plan.Validate checks the same rules on a plan written by hand.
func TestHostilePlanValidate(t *testing.T) {
	base := func() *Plan {
		return &Plan{Version: Version, Command: Command{Argv: []string{"/app"}, WorkingDir: "/"}}
	}
	ebs := func(dev, dst string) Volume {
		return Volume{Kind: KindEBS, Device: dev, Destination: dst, FSType: "ext4", Mode: 0o755}
	}
	tests := []struct {
		name string
		edit func(p *Plan)
		want string
	}{
		{"ok", func(p *Plan) {}, ""},
		{"duplicate device", func(p *Plan) { p.Volumes = []Volume{ebs("/dev/xvdf", "/a"), ebs("/dev/sdf", "/b")} },
			"volume[1].device: /dev/sdf is the same device as volume[0].device (/dev/xvdf): both would see it blank and format it; use one volume per device"},
		{"equal destination", func(p *Plan) {
			p.Volumes = []Volume{ebs("/dev/sdf", "/a"), {Kind: KindTemplate, Destination: "/a", Mode: 0o644}}
		}, "volume[1].destination: /a is also volume[0].destination: the two volumes would be prepared at the same time and race; give each its own destination"},
		{"uid -1", func(p *Plan) { p.Command.UID, p.Command.Groups = NoID, []uint32{5, NoID} },
			`command.uid: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294); command.groups[1]: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)`},
		{"volume gid -1", func(p *Plan) { v := ebs("/dev/sdf", "/a"); v.GID = NoID; p.Volumes = []Volume{v} },
			`volume[0].gid: 4294967295 is (uid_t)-1, which the kernel reads as "no change": use a real id (0..4294967294)`},
		{"NUL", func(p *Plan) {
			p.Command.Argv = append(p.Command.Argv, "x\x00y")
			p.Env = []EnvVar{{Name: "A", Value: "\x00"}}
		}, "command.argv[1]: must not contain a NUL byte (the kernel would cut the string there); env[0]: must not contain a NUL byte (the kernel would cut the string there)"},
		{"attachment without tags", func(p *Plan) {
			v := ebs("/dev/sdf", "")
			v.FSType, v.Attachment = "", &Attachment{TimeoutSeconds: 5}
			p.Volumes = []Volume{v}
		}, "volume[0].attachment.tag: must list at least one tag: without tags any available volume in the zone would be attached (and chowned to the volume's owner)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.edit(p)
			err := p.Validate()
			got := ""
			if err != nil {
				got = strings.TrimPrefix(err.Error(), "invalid plan: ")
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
