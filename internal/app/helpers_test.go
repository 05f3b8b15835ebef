package app

import (
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testLogger writes the bot's logs to the test log when SECOPS_TEST_LOG is
// set, and nowhere otherwise.
func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("SECOPS_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
