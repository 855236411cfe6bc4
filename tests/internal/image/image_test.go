package image

import (
	"reflect"
	"testing"
)

const depFixture = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/acpi/button.ko:
kernel/fs/nls/nls-cp437.ko:
`

func TestModuleClosure(t *testing.T) {
	deps := ModuleDeps([]byte(depFixture))
	tests := []struct {
		name    string
		mods    []string
		want    []string
		wantErr bool
	}{
		{"leaf", []string{"button"}, []string{"kernel/drivers/acpi/button.ko"}, false},
		{"closure", []string{"virtio_net"}, []string{
			"kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko", "kernel/net/core/failover.ko"}, false},
		{"dash is underscore", []string{"nls_cp437"}, []string{"kernel/fs/nls/nls-cp437.ko"}, false},
		{"unknown", []string{"nope"}, nil, true},
		// arm64's cloud kernel has the ACPI button built in: nothing to copy
		{"builtin skipped", []string{"evdev", "virtio_net"}, []string{
			"kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko", "kernel/net/core/failover.ko"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ModuleClosure(deps, map[string]bool{"evdev": true}, tc.mods)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
