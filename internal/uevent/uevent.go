// Package uevent reads the kernel's device events (the messages udev would get) from a
// NETLINK_KOBJECT_UEVENT socket, so PID 1 can name hot-plugged disks without udev.
//
// Parse is pure: a kernel message is "ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...".
package uevent

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Event is one kernel device event.
type Event struct {
	Action    string // add, remove, change, move, online, offline, bind, unbind
	DevPath   string // /devices/pci0000:00/.../nvme1n1 (relative to /sys)
	Subsystem string // block, net, ...
	DevName   string // nvme1n1 (relative to /dev), "" when the device has no node
	DevType   string // disk, partition, ...
	PartN     int    // partition number, 0 for a whole disk
	Seqnum    uint64
	Env       map[string]string // every KEY=VALUE field
}

// IsBlockAdd reports whether e announces a new block device node (a disk or a partition).
func (e Event) IsBlockAdd() bool {
	return e.Action == "add" && e.Subsystem == "block" && e.DevName != ""
}

// Parse decodes one kernel uevent message. Messages from udev ("libudev" magic, sent to
// another multicast group) and malformed messages are refused with an error.
func Parse(msg []byte) (Event, error) {
	if bytes.HasPrefix(msg, []byte("libudev\x00")) {
		return Event{}, fmt.Errorf("uevent: udev message, not a kernel one")
	}
	fields := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	head := string(fields[0])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok || action == "" || devpath == "" {
		return Event{}, fmt.Errorf("uevent: malformed header %q (want ACTION@DEVPATH)", head)
	}
	e := Event{Action: action, DevPath: devpath, Env: make(map[string]string, len(fields)-1)}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			continue // tolerate, like udev does
		}
		e.Env[k] = v
	}
	if a, ok := e.Env["ACTION"]; ok && a != action {
		return Event{}, fmt.Errorf("uevent: header action %q differs from ACTION=%q", action, a)
	}
	e.Subsystem = e.Env["SUBSYSTEM"]
	e.DevName = e.Env["DEVNAME"]
	e.DevType = e.Env["DEVTYPE"]
	if p := e.Env["PARTN"]; p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Event{}, fmt.Errorf("uevent: %s: bad PARTN=%q", devpath, p)
		}
		e.PartN = n
	}
	if s := e.Env["SEQNUM"]; s != "" {
		e.Seqnum, _ = strconv.ParseUint(s, 10, 64)
	}
	if strings.Contains(e.DevName, "..") || strings.HasPrefix(e.DevName, "/") {
		return Event{}, fmt.Errorf("uevent: %s: bad DEVNAME=%q", devpath, e.DevName)
	}
	return e, nil
}
