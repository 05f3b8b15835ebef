package replicatest

import (
	"os"
	"testing"

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
)

// TestMain removes the bot binary the tests shared (buildBot) once they
// have all run.
func TestMain(m *testing.M) {
	code := m.Run()
	serveproc.RemoveBuild()
	os.Exit(code)
}
