package app

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/secops-bot/secops-bot/internal/netdial"
)

// TestSocketNoticesASilentPeer finds the bot's own end of its Socket Mode
// connection among the process's sockets and checks that it was dialled to
// notice Slack's end going silent after slack.network_timeout (see
// netdial), not only after slack-go's 30–60 s ping watchdog. A forgotten
// NAT flow cannot be made here without privileges; what the kernel does
// with the settings is its own contract.
func TestSocketNoticesASilentPeer(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.cfg.Slack.NetworkTimeout = 12 * time.Second
	e.start(t)
	defer e.stop(t)
	conns := e.emu.Connections()
	if len(conns) != 1 {
		t.Fatalf("%d Socket Mode connections, want 1", len(conns))
	}
	client, err := net.ResolveTCPAddr("tcp", conns[0].RemoteAddr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := netdial.InspectFD(ownSocket(t, client))
	if err != nil {
		t.Fatal(err)
	}
	want := netdial.Settings{UserTimeout: 12 * time.Second, KeepAlive: true, KeepAliveIdle: 6 * time.Second}
	if got != want {
		t.Errorf("Socket Mode connection settings = %+v, want %+v", got, want)
	}
}

// ownSocket returns the file descriptor of this process's TCP socket bound
// to local. (Reading its options through a net.Conn made from a duplicate
// would reset them: net.FileConn applies its own keepalive defaults.)
func ownSocket(t *testing.T, local *net.TCPAddr) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list file descriptors: %v", err)
	}
	for _, en := range entries {
		fd, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		if in4, ok := sa.(*unix.SockaddrInet4); ok && in4.Port == local.Port && net.IP(in4.Addr[:]).Equal(local.IP) {
			return fd
		}
	}
	t.Fatalf("no socket of this process is bound to %v", local)
	return -1
}
