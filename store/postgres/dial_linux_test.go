package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/netdial"
)

// TestConnectionsNoticeASilentServer checks that the pool's connections are
// dialled to notice a database host that vanished without closing them
// (see netdial). A partition cannot be made here without privileges; what
// the kernel does with these settings is its own contract.
func TestConnectionsNoticeASilentServer(t *testing.T) {
	dsn := freshSchema(t)
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"configured", 8 * time.Second, 8 * time.Second},
		{"default", 0, defaultNetworkTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), dsn, Options{Logger: zerolog.Nop(), NetworkTimeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c, err := s.pool.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			got, err := netdial.Inspect(c.Conn().PgConn().Conn())
			if err != nil {
				t.Skipf("not a TCP connection: %v", err)
			}
			if got.UserTimeout != tc.want || !got.KeepAlive || got.KeepAliveIdle != tc.want/2 {
				t.Errorf("connection settings = %+v, want a %v user timeout and keepalive from %v", got, tc.want, tc.want/2)
			}
		})
	}
}
