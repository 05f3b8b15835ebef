package postgres

import (
	"context"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// defaultNetworkTimeout is Options.NetworkTimeout when unset.
const defaultNetworkTimeout = 30 * time.Second

// dialer returns the DialFunc for connections to the database. A database
// host that vanishes without closing its connections (a failover whose old
// primary lost power, a partition that drops packets) would otherwise
// leave every query on those connections waiting until the kernel gives up
// retransmitting, about fifteen minutes on Linux, and the pool would keep
// handing them out. Two things bound that to about the timeout:
//
//   - TCP_USER_TIMEOUT (Linux): a connection whose sent data goes
//     unacknowledged for the timeout is dropped;
//   - keepalive probes from half the timeout on, so that a connection
//     waiting for a reply from a silent server is probed and, unanswered,
//     dropped by the same rule.
//
// A dropped connection fails its query with a network error, which the
// caller retries on a fresh connection. connectTimeout (the DSN's
// connect_timeout) still bounds dialling.
func dialer(timeout, connectTimeout time.Duration) pgconn.DialFunc {
	if timeout <= 0 {
		timeout = defaultNetworkTimeout
	}
	idle := max(timeout/2, time.Second)
	interval := max(timeout/6, time.Second)
	d := &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     idle,
			Interval: interval,
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
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
