//go:build linux

package uevent

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Conn is a socket subscribed to the kernel's uevent multicast group.
type Conn struct {
	fd  int
	buf []byte
}

// Open subscribes to kernel uevents (NETLINK_KOBJECT_UEVENT, group 1).
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent socket: %w", err)
	}
	// A burst of hot-plugged disks must not overflow the queue; best effort.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20)
	// Wake up twice a second so Next notices a cancelled context.
	tv := unix.Timeval{Usec: 500000}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent bind: %w", err)
	}
	return &Conn{fd: fd, buf: make([]byte, 16<<10)}, nil
}

// Next returns the next kernel event. Unparseable messages and messages not sent by the kernel
// are skipped. It returns ctx.Err() once ctx is done; a receive error other than a timeout or
// an interrupted call is returned (the caller logs it and may call Next again).
func (c *Conn) Next(ctx context.Context) (Event, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		n, from, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return Event{}, fmt.Errorf("uevent receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel speaks on this group
		}
		e, err := Parse(c.buf[:n])
		if err != nil {
			continue
		}
		return e, nil
	}
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }
