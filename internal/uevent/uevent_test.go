package uevent

import (
	"strings"
	"testing"
)

func msg(fields ...string) []byte { return []byte(strings.Join(fields, "\x00") + "\x00") }

func TestParse(t *testing.T) {
	cases := []struct {
		name     string
		in       []byte
		blockAdd bool
		devname  string
		partn    int
		err      string
	}{
		{name: "disk add", in: msg("add@/devices/pci0000:00/0000:00:04.0/nvme/nvme1/nvme1n1", "ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:04.0/nvme/nvme1/nvme1n1", "SUBSYSTEM=block", "MAJOR=259", "MINOR=2", "DEVNAME=nvme1n1", "DEVTYPE=disk", "DISKSEQ=3", "SEQNUM=1234"), blockAdd: true, devname: "nvme1n1"},
		{name: "partition add", in: msg("add@/devices/x/nvme1n1/nvme1n1p2", "ACTION=add", "SUBSYSTEM=block", "DEVNAME=nvme1n1p2", "DEVTYPE=partition", "PARTN=2"), blockAdd: true, devname: "nvme1n1p2", partn: 2},
		{name: "remove", in: msg("remove@/devices/x/nvme1n1", "ACTION=remove", "SUBSYSTEM=block", "DEVNAME=nvme1n1"), devname: "nvme1n1"},
		{name: "net add", in: msg("add@/devices/virtual/net/eth1", "ACTION=add", "SUBSYSTEM=net", "INTERFACE=eth1")},
		{name: "block without node", in: msg("add@/devices/virtual/bdi/259:2", "ACTION=add", "SUBSYSTEM=bdi")},
		{name: "no trailing NUL", in: []byte("add@/devices/x/sdb\x00SUBSYSTEM=block\x00DEVNAME=sdb"), blockAdd: true, devname: "sdb"},
		{name: "field without =", in: msg("add@/devices/x/sdb", "GARBAGE", "SUBSYSTEM=block", "DEVNAME=sdb"), blockAdd: true, devname: "sdb"},
		{name: "udev message", in: []byte("libudev\x00\xfe\xed\xca\xfe"), err: "udev message"},
		{name: "no header", in: msg("ACTION=add"), err: "malformed header"},
		{name: "empty", in: nil, err: "malformed header"},
		{name: "action mismatch", in: msg("add@/devices/x", "ACTION=remove"), err: "differs"},
		{name: "bad PARTN", in: msg("add@/devices/x/sdb1", "SUBSYSTEM=block", "DEVNAME=sdb1", "PARTN=x"), err: "bad PARTN"},
		{name: "DEVNAME escaping /dev", in: msg("add@/devices/x/y", "SUBSYSTEM=block", "DEVNAME=../etc/passwd"), err: "bad DEVNAME"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Parse(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse error = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.IsBlockAdd() != c.blockAdd || e.DevName != c.devname || e.PartN != c.partn {
				t.Fatalf("Parse = %+v; want blockAdd %v devname %q partn %d", e, c.blockAdd, c.devname, c.partn)
			}
		})
	}
	e, _ := Parse(cases[0].in)
	if e.Seqnum != 1234 || e.Env["MAJOR"] != "259" || e.DevType != "disk" || e.Action != "add" {
		t.Errorf("fields: %+v", e)
	}
}
