package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

const header = "# bootplan boot plan. Written by bootplan compile (or stage one); read by stage two.\n" +
	"# Every default is explicit. Inspect with: bootplan show [FILE]\n"

// Encode renders the plan as TOML with a short header comment. It does not validate. A plan
// over MaxPlanBytes is an error (errPlanSize), found while writing, so it is never built whole.
func Encode(p *Plan) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("encode plan: nil plan")
	}
	buf := &limitedBuffer{max: MaxPlanBytes}
	buf.WriteString(header)
	if err := toml.NewEncoder(buf).Encode(p); err != nil {
		if errors.Is(err, errPlanSize) {
			return nil, err
		}
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	return buf.Bytes(), nil
}

var errPlanSize = fmt.Errorf("the boot plan would be larger than %s (bootplan's limit for the plan file): make user data or the image config smaller", sizeText(MaxPlanBytes))

// limitedBuffer is a bytes.Buffer that refuses to grow past max.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errPlanSize
	}
	return b.Buffer.Write(p)
}

// Decode parses a TOML plan. Unknown keys and unknown versions are refused; empty lists are
// returned as nil and times in UTC, so Decode(Encode(p)) equals p. It does not call Validate.
func Decode(b []byte) (*Plan, error) {
	var v struct {
		Version *int `toml:"version"`
	}
	if _, err := toml.Decode(string(b), &v); err != nil {
		return nil, fmt.Errorf("plan is not valid TOML: %s", oneLine(err.Error()))
	}
	if v.Version == nil {
		return nil, fmt.Errorf("plan has no version key: not a bootplan plan, or truncated; recompile it")
	}
	if *v.Version != Version {
		return nil, fmt.Errorf("plan version %d is not supported by this bootplan (supports %d): rebuild the image or recompile the plan", *v.Version, Version)
	}
	var p Plan
	md, err := toml.Decode(string(b), &p)
	if err != nil {
		return nil, fmt.Errorf("plan: %s", oneLine(err.Error()))
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("plan has unknown keys %s: written by a newer bootplan? recompile the plan with this version", strings.Join(keys, ", "))
	}
	p.normalize()
	return &p, nil
}

// ReadFile reads and decodes the plan at path; errors name the file. It stays here (stdlib
// only, a read with no side effect) so that the CLI, stage two and the tests read a plan the
// same way; writing a plan is Encode plus internal/fsutil.WriteAtomic, which plan may not
// import.
func ReadFile(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Bounded: a plan is at most MaxPlanBytes (Encode never writes more).
	b, err := io.ReadAll(io.LimitReader(f, MaxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	if len(b) > MaxPlanBytes {
		return nil, fmt.Errorf("%s: plan file is larger than %s (bootplan's limit): not a plan written by bootplan; recompile it", path, sizeText(MaxPlanBytes))
	}
	p, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// normalize turns empty lists into nil and times into UTC, so decoded plans compare equal.
func (p *Plan) normalize() {
	p.Source.CompiledAt = p.Source.CompiledAt.UTC()
	p.Source.Warnings = nilIfEmpty(p.Source.Warnings)
	n := &p.Network
	n.DNS = nilIfEmpty(n.DNS)
	n.Search = nilIfEmpty(n.Search)
	n.Routes = nilIfEmpty(n.Routes)
	n.OtherIfaces = nilIfEmpty(n.OtherIfaces)
	p.Command.Argv = nilIfEmpty(p.Command.Argv)
	p.Command.Groups = nilIfEmpty(p.Command.Groups)
	p.Env = nilIfEmpty(p.Env)
	p.EnvFrom = nilIfEmpty(p.EnvFrom)
	p.Volumes = nilIfEmpty(p.Volumes)
	for i := range p.Volumes {
		v := &p.Volumes[i]
		v.MountOptions = nilIfEmpty(v.MountOptions)
		if v.Attachment != nil {
			v.Attachment.Tags = nilIfEmpty(v.Attachment.Tags)
		}
	}
	p.Modules = nilIfEmpty(p.Modules)
	for i := range p.Modules {
		p.Modules[i].Params = nilIfEmpty(p.Modules[i].Params)
	}
	p.Sysctls = nilIfEmpty(p.Sysctls)
	p.InitScripts = nilIfEmpty(p.InitScripts)
	p.Services = nilIfEmpty(p.Services)
	for i := range p.Services {
		p.Services[i].Argv = nilIfEmpty(p.Services[i].Argv)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
