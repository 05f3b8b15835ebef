package netdial

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Settings are the liveness settings of one TCP connection.
type Settings struct {
	UserTimeout   time.Duration
	KeepAlive     bool
	KeepAliveIdle time.Duration
}

// Inspect reads the liveness settings back from a connection's socket, to
// check that a connection was dialled here.
func Inspect(c net.Conn) (Settings, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Settings{}, fmt.Errorf("inspect %T: not a socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Settings{}, fmt.Errorf("inspect: %w", err)
	}
	var s Settings
	var ierr error
	if err := raw.Control(func(fd uintptr) { s, ierr = InspectFD(int(fd)) }); err != nil {
		return Settings{}, fmt.Errorf("inspect: %w", err)
	}
	return s, ierr
}

// InspectFD is Inspect for a socket's file descriptor.
func InspectFD(fd int) (Settings, error) {
	ut, err1 := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	ka, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	idle, err3 := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Settings{}, fmt.Errorf("inspect socket %d: %w", fd, err)
	}
	return Settings{UserTimeout: time.Duration(ut) * time.Millisecond, KeepAlive: ka != 0, KeepAliveIdle: time.Duration(idle) * time.Second}, nil
}
