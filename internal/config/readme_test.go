package config

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExample keeps the README's example of configuration problems
// true: its config.yaml and variable give exactly the problems it shows.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	between := func(after, start, end string) string {
		t.Helper()
		i := strings.Index(readme, after)
		if i < 0 {
			t.Fatalf("the README lacks %q", after)
		}
		rest := readme[i+len(after):]
		j := strings.Index(rest, start)
		k := strings.Index(rest[j+len(start):], end)
		if j < 0 || k < 0 {
			t.Fatalf("the README lacks %q…%q after %q", start, end, after)
		}
		return rest[j+len(start) : j+len(start)+k]
	}
	yamlText := between("With this `config.yaml`:", "```yaml\n", "```")
	command := between("```yaml\n"+yamlText+"```", "`", "`")
	want := between(command+"`", "```\n", "```")

	name, value, ok := strings.Cut(strings.Fields(command)[0], "=")
	if !ok || !strings.HasPrefix(name, EnvPrefix+"_") {
		t.Fatalf("the README's command %q does not start with a variable", command)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.yaml", []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load("config.yaml", envMap(map[string]string{name: value}))
	if err == nil {
		t.Fatal("the README's mistakes were accepted")
	}
	if got := err.Error() + "\n"; got != want {
		t.Errorf("the README shows:\n%s\nthe bot says:\n%s", want, got)
	}
}
