package plan

import "testing"

// setuid, setgid and sticky bits are kept for every volume kind (one rule: stage two honours
// them on file volumes as on an EBS volume's root); a fifth digit or non-octal is refused.
func TestModeSpecialBits(t *testing.T) {
	for s, want := range map[string]Mode{"4755": 0o4755, "2750": 0o2750, "1777": 0o1777, "6711": 0o6711, "0640": 0o640, "7777": 0o7777} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %o, %v; want %o", s, m, err, want)
		}
	}
	for _, s := range []string{"", "17777", "0o755", "8", "-1"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
	p := compileUD(t, `volumes:
  - template: {content: x, mount: {destination: /opt/t, mode: "4755"}}
  - s3: {bucket: b, key-prefix: p/, mount: {destination: /srv/s, mode: "2750"}}
  - ssm: {path: /p, mount: {destination: /etc/s, mode: "6711"}}
  - secrets-manager: {secret-id: s, mount: {destination: /etc/k, mode: "4600"}}
  - ebs: {device: /dev/sdf, mount: {destination: /data, fs-type: ext4, mode: "1777"}}
`)
	for i, want := range []Mode{0o4755, 0o2750, 0o6711, 0o4600, 0o1777} {
		if got := p.Volumes[i].Mode; got != want {
			t.Errorf("volume %d (%s) mode %s, want %s", i, p.Volumes[i].Kind, got, want)
		}
	}
}
