package breakglass

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package free of Slack and AWS: it is the state machine
// that bot/ and providers/aws/grant plug into, and must stay testable
// without either.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/secops-bot/secops-bot/"
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, "github.com/slack-go/"), strings.HasPrefix(dep, "github.com/aws/"),
			strings.HasPrefix(dep, module+"bot"), strings.HasPrefix(dep, module+"providers"):
			t.Errorf("depends on %s", dep)
		}
	}
}
