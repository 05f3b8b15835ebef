package serveproc

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// Config writes config.example.yaml with edit's changes, as a deployment
// behind the test servers would make them, and returns the new file's
// path. edit gets each section by name (the test fails on a section the
// example lacks). The example is read from the module root, two levels
// above the calling test's package (internal/<name>).
func Config(t testing.TB, edit func(section func(name string) map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	edit(func(name string) map[string]any {
		s, ok := cfg[name].(map[string]any)
		if !ok {
			t.Fatalf("config.example.yaml has no %s section", name)
		}
		return s
	})
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
