// Package netdial dials long-lived TCP connections (to the database, to
// Slack's Socket Mode) that notice a peer gone silent. Without help, a
// connection whose peer vanished without closing it (a host lost power, a
// NAT or load balancer forgot the flow, a partition drops packets) stays
// open until the kernel gives up retransmitting, about fifteen minutes on
// Linux, and anything waiting on it waits as long. Two kernel settings
// bound that to about the timeout:
//
//   - TCP_USER_TIMEOUT (Linux): a connection whose sent data goes
//     unacknowledged for the timeout is dropped;
//   - keepalive probes from half the timeout on, so that an idle
//     connection, or one waiting for a reply, is probed and, unanswered,
//     dropped by the same rule.
//
// A dropped connection fails its reads and writes with a network error,
// which the caller already handles by reconnecting.
package netdial

import (
	"net"
	"strings"
	"syscall"
	"time"
)

// Dialer returns a net.Dialer whose TCP connections are dropped once their
// peer has been silent for about timeout. connectTimeout bounds dialling
// (none when zero).
func Dialer(timeout, connectTimeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     max(timeout/2, time.Second),
			Interval: max(timeout/6, time.Second),
			Count:    3,
		},
		Control: func(network, _ string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil // a Unix socket has no network to lose
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, timeout) }); err != nil {
				return err
			}
			return serr
		},
	}
}
