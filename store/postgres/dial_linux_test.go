package postgres

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// TestConnectionsNoticeASilentServer checks the socket options that bound
// a query on a database host that vanished without closing its
// connections: the kernel drops a connection whose data goes
// unacknowledged for NetworkTimeout, and probes an idle one from half of
// it on. (A partition cannot be made here without privileges; what the
// kernel does with these options is its own contract.)
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
			tcp, ok := c.Conn().PgConn().Conn().(*net.TCPConn)
			if !ok {
				t.Skipf("connection is %T, not TCP", c.Conn().PgConn().Conn())
			}
			raw, err := tcp.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var userTimeout, keepalive, idle int
			var gerr error
			if err := raw.Control(func(fd uintptr) {
				if userTimeout, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); gerr != nil {
					return
				}
				if keepalive, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE); gerr != nil {
					return
				}
				idle, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			}); err != nil || gerr != nil {
				t.Fatalf("read socket options: %v %v", err, gerr)
			}
			if got := time.Duration(userTimeout) * time.Millisecond; got != tc.want {
				t.Errorf("TCP_USER_TIMEOUT = %v, want %v", got, tc.want)
			}
			if keepalive != 1 {
				t.Error("keepalive is off")
			}
			if got := time.Duration(idle) * time.Second; got != tc.want/2 {
				t.Errorf("keepalive idle = %v, want %v", got, tc.want/2)
			}
		})
	}
}
