package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/secops-bot/secops-bot/detect/sigma/sigmatest"
)

// TestSigmaRulesReadOnce: validating a configuration and starting the bot
// use the rules read once, so the rules checked are the rules run; a
// change of sigma.dirs reads them again.
func TestSigmaRulesReadOnce(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for i, d := range []string{dir, dir, other} {
		if err := os.WriteFile(filepath.Join(d, filepath.Base(t.Name())+string(rune('a'+i))+".yml"), []byte(sigmatest.Rule(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Parse("sigma:\n  dirs: ["+dir+"]\n", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := cfg.Sigma.Rules()
	if err != nil || first.Len() != 2 {
		t.Fatalf("Rules() = %d rules, %v; want the 2 rules of sigma.dirs", first.Len(), err)
	}
	copied := cfg
	if again, _, _ := copied.Sigma.Rules(); again != first {
		t.Error("a copy of the configuration read the rules again")
	}
	copied.Sigma.Dirs = []string{dir, other}
	if more, _, _ := copied.Sigma.Rules(); more.Len() != 3 {
		t.Errorf("after sigma.dirs changed, Rules() = %d rules, want 3", more.Len())
	}
}
