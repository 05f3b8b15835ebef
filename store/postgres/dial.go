package postgres

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secops-bot/secops-bot/internal/netdial"
)

// defaultNetworkTimeout is Options.NetworkTimeout when unset.
const defaultNetworkTimeout = 30 * time.Second

// dialer returns the DialFunc for connections to the database: a database
// host that vanishes without closing its connections would otherwise leave
// every query on them waiting for many minutes, and the pool handing them
// out (see netdial). connectTimeout (the DSN's connect_timeout) still
// bounds dialling.
func dialer(timeout, connectTimeout time.Duration) pgconn.DialFunc {
	d := netdial.Dialer(timeout, connectTimeout)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
