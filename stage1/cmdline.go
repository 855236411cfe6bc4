package stage1

import (
	"strings"
)

// CmdlineEnv returns the KEY=VALUE parameters of a kernel command line that look like
// environment variables (KEY made of A-Z, 0-9 and _, not starting with a digit), in order.
// The kernel already hands unknown KEY=VALUE parameters to init as environment; this is the
// fallback for values it did not pass (for example ones it also understood itself). Double
// quotes around a value are removed; parameters after "--" belong to init's argv and are
// ignored.
func CmdlineEnv(cmdline string) [][2]string {
	var out [][2]string
	for _, p := range splitCmdline(cmdline) {
		if p == "--" {
			break
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || !isEnvName(k) {
			continue
		}
		out = append(out, [2]string{k, strings.ReplaceAll(v, `"`, "")})
	}
	return out
}

// splitCmdline splits at spaces outside double quotes, as the kernel does.
func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
			have = true
		case (r == ' ' || r == '\t' || r == '\n') && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

func isEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// MergeEnv returns the pairs of cmdline that env (os.Environ form) does not already define:
// what the kernel passed wins.
func MergeEnv(env []string, cmdline [][2]string) [][2]string {
	have := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		have[k] = true
	}
	var out [][2]string
	for _, kv := range cmdline {
		if !have[kv[0]] {
			have[kv[0]] = true
			out = append(out, kv)
		}
	}
	return out
}
