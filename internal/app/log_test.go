package app

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Console logs carry no colour codes when they do not go to a terminal: a
// log piped to a file or a pager must stay readable.
func TestConsoleLogsHaveNoColourWhenPiped(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []io.Writer{f, &buf} {
		log, err := NewLogger(w, "info", "console")
		if err != nil {
			t.Fatal(err)
		}
		log.Warn().Str("finding_id", "F-0A1B2C3D4E").Msg("something to read")
	}
	written, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"file": string(written), "buffer": buf.String()} {
		if strings.Contains(out, "\x1b[") {
			t.Errorf("console log to a %s has colour codes: %q", name, out)
		}
		if !strings.Contains(out, "something to read") || !strings.Contains(out, "finding_id=F-0A1B2C3D4E") {
			t.Errorf("console log to a %s lacks the message: %q", name, out)
		}
	}
}
