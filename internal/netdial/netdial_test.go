//go:build linux

package netdial_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/netdial"
)

func TestDialledConnectionsNoticeASilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		timeout  time.Duration
		wantIdle time.Duration
	}{
		{30 * time.Second, 15 * time.Second},
		{8 * time.Second, 4 * time.Second},
		{time.Second, time.Second}, // probes no sooner than a second
	}
	for _, tc := range tests {
		t.Run(tc.timeout.String(), func(t *testing.T) {
			c, err := netdial.Dialer(tc.timeout, time.Second).DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := netdial.Inspect(c)
			if err != nil {
				t.Fatal(err)
			}
			want := netdial.Settings{UserTimeout: tc.timeout, KeepAlive: true, KeepAliveIdle: tc.wantIdle}
			if got != want {
				t.Errorf("settings = %+v, want %+v", got, want)
			}
		})
	}
}
