//go:build !linux

package netdial

import "time"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; the
// keepalive probes still find a silent server.
func setUserTimeout(uintptr, time.Duration) error { return nil }
