package oncall

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package free of Slack and AWS: it is domain logic that
// bot/ adapts to Slack, and must stay testable without either.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if forbiddenDep(dep) {
			t.Errorf("depends on %s", dep)
		}
	}
}

func forbiddenDep(dep string) bool {
	const module = "github.com/secops-bot/secops-bot/"
	switch {
	case strings.HasPrefix(dep, "github.com/slack-go/"), strings.HasPrefix(dep, "github.com/aws/"):
		return true
	case strings.HasPrefix(dep, module+"bot"), strings.HasPrefix(dep, module+"providers"):
		return true
	}
	return false
}
