package commands

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that every failure is a
// *UsageError, and that every success survives a trip through String.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "help ack", "findings all payments", "ack F-0A1B2C3D4E",
		"resolve F-0A1B2C3D4E “fixed” by owner", `resolve F-0A1B2C3D4E "--x"`,
		"investigate BackupManager --since 30d", "investigate --since=1d12h arn:aws:sts::123456789012:assumed-role/r/s",
		"investigate user:123456789012", "investigate resource:user:x",
		"breakglass 123456789012 30m incident", `breakglass "7d" 1h "2h"`, "breakglass 30m 1h",
		"contain unshare snap-0123456789abcdef0", "audit breakglass —since 2d",
		"findings \"all\"", "ack \"F-0A1B2C3D4E", "investigate a\u00a0b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T is not a *UsageError: %v", text, err, err)
			}
			return
		}
		s := c.String()
		again, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String %q fails: %v", text, c, s, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(%q) = %+v; String %q parses as %+v", text, c, s, again)
		}
	})
}
