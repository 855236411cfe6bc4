package plan

import "go.yaml.in/yaml/v3"

// secretMode warns (for `bootplan validate` only: a deliberate mode is not repeated at every
// boot) when an SSM or Secrets Manager file volume's explicit mode lets the group or others
// read the secret. easyto always wrote these files 0600; bootplan honours mount.mode, so the
// looser mode is allowed but pointed out.
func (p *parser) secretMode(v *UserVolume, n *yaml.Node, path string) {
	if !p.strict || (v.Kind != KindSSM && v.Kind != KindSecretsManager) {
		return
	}
	var who string
	switch v.Mode & 0o044 {
	case 0:
		return
	case 0o040:
		who = "the group"
	case 0o004:
		who = "others"
	default:
		who = "the group and others"
	}
	p.warnf(n, path, "mode %s lets %s read the secret (%s files default to 0600); keep it only if they need it", v.Mode, who, v.Kind)
}
