package stage1

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// panicConn is a DHCP socket whose send panics, as a bug in parsing or building a packet on
// the exchange's goroutine would. Reads block until Close (the client's own receive loop).
type panicConn struct{ closed chan struct{} }

func (c *panicConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}
func (c *panicConn) WriteTo([]byte, net.Addr) (int, error) { panic("boom in the DHCP exchange") }
func (c *panicConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}
func (c *panicConn) LocalAddr() net.Addr              { return &net.UDPAddr{} }
func (c *panicConn) SetDeadline(time.Time) error      { return nil }
func (c *panicConn) SetReadDeadline(time.Time) error  { return nil }
func (c *panicConn) SetWriteDeadline(time.Time) error { return nil }

// A panic on the DHCP exchange's own goroutine must become the step's error: unrecovered, it
// kills PID 1 (a kernel panic) whatever main recovers.
func TestDHCPExchangePanicIsAnError(t *testing.T) {
	env := &netEnv{openDHCP: func(string) (net.PacketConn, error) { return &panicConn{closed: make(chan struct{})}, nil }}
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	start := time.Now()
	_, err := dhcpLease(context.Background(), env, "eth0", mac)
	if err == nil || !strings.Contains(err.Error(), "DHCP exchange panicked: boom") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}
