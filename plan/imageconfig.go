package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ImageConfig is what bootplan uses of the image's OCI/Docker config (/.easyto/metadata.json).
// Nil slices and pointers mean "absent or null" in the JSON.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []EnvVar // split at the first '='; Literal is set
	User       *string
	WorkingDir *string
}

type imageConfigJSON struct {
	Config *struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		User       *string  `json:"User"`
		WorkingDir *string  `json:"WorkingDir"`
	} `json:"config"`
}

// ParseImageConfig reads metadata.json. Empty input means no image config (all fields absent);
// a missing "config" object is allowed; unknown fields are ignored. Problems are reported as
// diagnostics against file (line:col computed from the JSON offset where known).
func ParseImageConfig(file string, b []byte) (*ImageConfig, Diagnostics) {
	ic := &ImageConfig{}
	if len(bytes.TrimSpace(b)) == 0 {
		return ic, nil
	}
	var diags Diagnostics
	var raw imageConfigJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		d := Diagnostic{File: file, Severity: SeverityError}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			d.Line, d.Col = offsetLineCol(b, se.Offset)
			d.Message = "invalid JSON: " + se.Error()
		case errors.As(err, &te):
			d.Line, d.Col = offsetLineCol(b, te.Offset)
			d.Path = te.Field
			d.Message = fmt.Sprintf("must be %s, got a JSON %s", jsonWant(te.Type.String()), te.Value)
		default:
			d.Message = "invalid JSON: " + err.Error()
		}
		return nil, Diagnostics{d}
	}
	if raw.Config == nil {
		return ic, nil
	}
	c := raw.Config
	ic.Entrypoint, ic.Cmd, ic.User, ic.WorkingDir = c.Entrypoint, c.Cmd, c.User, c.WorkingDir
	for i, e := range c.Env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			diags = append(diags, Diagnostic{File: file, Path: fmt.Sprintf("config.Env[%d]", i),
				Message: fmt.Sprintf("entry %q is not NAME=VALUE: fix the image's ENV", e), Severity: SeverityError})
			continue
		}
		ic.Env = append(ic.Env, EnvVar{Name: name, Value: value, Literal: true})
	}
	return ic, diags
}

func jsonWant(goType string) string {
	switch goType {
	case "[]string":
		return "a list of strings"
	case "string", "*string":
		return "a string"
	}
	return "an object"
}

// offsetLineCol turns a byte offset (as reported by encoding/json: the offset after the bad
// byte) into a 1-based line and column.
func offsetLineCol(b []byte, off int64) (int, int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off > 0 {
		off-- // encoding/json reports the offset after the offending byte
	}
	line, col := 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// UserIDs is a resolved image user.
type UserIDs struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups (nil if none)
}

// ResolveUser resolves an image User ("name", "uid", "name:group", "uid:gid", ...) against the
// image's /etc/passwd and /etc/group contents:
//
//   - the user part is a decimal uid or a name looked up in passwd (not found → error);
//   - the group part, when present, is a decimal gid or a name looked up in group;
//   - without a group part the user's primary group from passwd is used when the user is in
//     passwd (like Docker); a numeric uid not in passwd gets gid 0;
//   - supplementary groups are the groups of /etc/group whose member list names the user (in
//     file order, without duplicates and without the primary gid);
//   - an empty user part means root; fields after a second ':' are ignored.
func ResolveUser(spec string, passwd, group []byte) (UserIDs, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	groupPart, _, _ = strings.Cut(groupPart, ":")
	var ids UserIDs
	var name string
	var primary *uint32
	pw := parseColonFile(passwd)
	switch {
	case userPart == "":
		if e := findByID(pw, 0); e != nil {
			name = e[0]
		}
	case isDecimal(userPart):
		uid, err := parseID(userPart)
		if err != nil {
			return ids, fmt.Errorf("user %q: %v", userPart, err)
		}
		ids.UID = uid
		if e := findByID(pw, uid); e != nil {
			name = e[0]
			if g, err := parseID(e[3]); err == nil {
				primary = &g
			}
		}
	default:
		e := findByName(pw, userPart)
		if e == nil {
			return ids, fmt.Errorf("user %q not found in the image's /etc/passwd: use a uid or add the user to the image", userPart)
		}
		uid, err := parseID(e[2])
		if err != nil {
			return ids, fmt.Errorf("user %q: invalid uid %q in /etc/passwd", userPart, e[2])
		}
		g, err := parseID(e[3])
		if err != nil {
			return ids, fmt.Errorf("user %q: invalid gid %q in /etc/passwd", userPart, e[3])
		}
		ids.UID, name, primary = uid, userPart, &g
	}
	gr := parseColonFile(group)
	switch {
	case hasGroup && isDecimal(groupPart):
		gid, err := parseID(groupPart)
		if err != nil {
			return ids, fmt.Errorf("group %q: %v", groupPart, err)
		}
		ids.GID = gid
	case hasGroup && groupPart != "":
		e := findByName(gr, groupPart)
		if len(e) < 3 {
			return ids, fmt.Errorf("group %q not found in the image's /etc/group: use a gid or add the group to the image", groupPart)
		}
		gid, err := parseID(e[2])
		if err != nil {
			return ids, fmt.Errorf("group %q: invalid gid %q in /etc/group", groupPart, e[2])
		}
		ids.GID = gid
	case primary != nil:
		ids.GID = *primary
	}
	if name != "" {
		ids.Groups = supplementaryGroups(gr, name, ids.GID)
	}
	return ids, nil
}

// groupsForUID returns the primary gid (ok=false when uid is not in passwd) and the
// supplementary groups of the passwd user with that uid.
func groupsForUID(uid uint32, passwd, group []byte) (gid uint32, groups []uint32, ok bool) {
	e := findByID(parseColonFile(passwd), uid)
	if e == nil {
		return 0, nil, false
	}
	g, err := parseID(e[3])
	if err != nil {
		return 0, nil, false
	}
	return g, supplementaryGroups(parseColonFile(group), e[0], g), true
}

func supplementaryGroups(gr [][]string, name string, primary uint32) []uint32 {
	var out []uint32
	seen := map[uint32]bool{primary: true}
	for _, e := range gr {
		if len(e) < 4 {
			continue
		}
		for _, m := range strings.Split(e[3], ",") {
			if strings.TrimSpace(m) != name {
				continue
			}
			if gid, err := parseID(e[2]); err == nil && !seen[gid] {
				seen[gid] = true
				out = append(out, gid)
			}
		}
	}
	return out
}

// parseColonFile splits passwd/group content into fields; blank lines, comments and lines with
// fewer than 3 fields are skipped (passwd lookups additionally need 4).
func parseColonFile(b []byte) [][]string {
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		out = append(out, f)
	}
	return out
}

func findByName(entries [][]string, name string) []string {
	for _, e := range entries {
		if e[0] == name && len(e) >= 4 {
			return e
		}
	}
	for _, e := range entries { // group files may have 3 fields
		if e[0] == name {
			return e
		}
	}
	return nil
}

func findByID(entries [][]string, id uint32) []string {
	for _, e := range entries {
		if len(e) < 4 {
			continue
		}
		if v, err := parseID(e[2]); err == nil && v == id {
			return e
		}
	}
	return nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || v == NoID {
		// 4294967295 is (uid_t)-1: "no change" to the kernel, never a usable id.
		return 0, fmt.Errorf("invalid id %q (want 0..4294967294)", s)
	}
	return uint32(v), nil
}

// PasswdEntry is the part of an /etc/passwd line services need.
type PasswdEntry struct {
	Name     string
	UID, GID uint32
	Home     string
}

// LookupPasswd finds a user by name in passwd contents (the same parser as ResolveUser).
func LookupPasswd(passwd []byte, name string) (PasswdEntry, error) {
	for _, e := range parseColonFile(passwd) {
		if e[0] != name || len(e) < 4 {
			continue
		}
		uid, err1 := parseID(e[2])
		gid, err2 := parseID(e[3])
		if err1 != nil || err2 != nil {
			return PasswdEntry{}, fmt.Errorf("malformed /etc/passwd entry for %q", name)
		}
		home := ""
		if len(e) >= 6 {
			home = e[5]
		}
		return PasswdEntry{Name: name, UID: uid, GID: gid, Home: home}, nil
	}
	return PasswdEntry{}, fmt.Errorf("user %q not in /etc/passwd", name)
}

// LookupGroup finds a group's gid by name in group contents.
func LookupGroup(group []byte, name string) (uint32, bool) {
	for _, e := range parseColonFile(group) {
		if e[0] == name {
			if gid, err := parseID(e[2]); err == nil {
				return gid, true
			}
		}
	}
	return 0, false
}
