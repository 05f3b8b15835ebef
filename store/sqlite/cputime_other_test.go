//go:build !unix

package sqlite

import (
	"testing"
	"time"
)

// cpuTime is not measured here; the CPU figure reads 0.
func cpuTime(*testing.B) time.Duration { return 0 }
