// Command vmproxy joins its stdin/stdout to a TCP address. QEMU's user network starts it once
// per guest connection (guestfwd=tcp:IP:PORT-cmd:vmproxy HOST:PORT), which — unlike the
// tcp: form of guestfwd — carries any number of connections.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vmproxy HOST:PORT")
		os.Exit(2)
	}
	conn, err := net.DialTimeout("tcp", os.Args[1], 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmproxy: %v\n", err)
		os.Exit(1)
	}
	// Bounded: no connection of a test lives longer than this.
	_ = conn.SetDeadline(time.Now().Add(10 * time.Minute))
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(os.Stdout, conn)
		_ = os.Stdout.Close()
		done <- struct{}{}
	}()
	<-done
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	_ = conn.Close()
}
