package stage1

import "time"

// sequence is stage one, from the kernel to a written plan. A step starts when the steps it
// comes After are done; independent steps (reading the image, the network) run together.
// The names are the ones on the console ("step network: done in 71ms").
func (b *boot) sequence() []Step {
	return []Step{
		{Name: "mounts", Timeout: 10 * time.Second, Run: b.mounts},
		{Name: "cmdline", After: []string{"mounts"}, Timeout: 5 * time.Second, Run: b.cmdline},
		{Name: "image", After: []string{"mounts"}, Timeout: 30 * time.Second, Run: b.readImage},
		{Name: "power-button", After: []string{"mounts"}, Timeout: 10 * time.Second, Run: b.powerButton},
		{Name: "network", After: []string{"cmdline"}, Timeout: 120 * time.Second, Run: b.network},
		{Name: "user-data", After: []string{"network"}, Timeout: 90 * time.Second, Run: b.userData},
		{Name: "hostname", After: []string{"network"}, Timeout: 15 * time.Second, Run: b.hostname},
		{Name: "compile", After: []string{"image", "user-data", "hostname"}, Timeout: 30 * time.Second, Run: b.compile},
		{Name: "write-plan", After: []string{"compile"}, Timeout: 10 * time.Second, Run: b.writePlan},
	}
}
