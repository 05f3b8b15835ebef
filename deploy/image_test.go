package deploy

import (
	"os"
	"regexp"
	"testing"
)

// imageName is the one name of the container image: the README, the
// Dockerfile and the Kubernetes manifests must all say it, so a reader who
// pulls what the README says runs what the cluster runs.
const imageName = "ghcr.io/secops-bot/secops-bot"

func TestImageNameIsTheSameEverywhere(t *testing.T) {
	ref := regexp.MustCompile(`ghcr\.io/[a-z0-9./-]+/[a-z0-9._-]+`)
	tests := []struct {
		file string
		// min is how many times the image must be named there.
		min int
	}{
		{"../README.md", 2},
		{"../Dockerfile", 1},
		{"kubernetes/deployment.yaml", 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			refs := ref.FindAllString(string(b), -1)
			if len(refs) < tc.min {
				t.Fatalf("%s names the image %d times, want at least %d (%s)", tc.file, len(refs), tc.min, imageName)
			}
			for _, r := range refs {
				if r != imageName {
					t.Errorf("%s names the image %q, want %q", tc.file, r, imageName)
				}
			}
		})
	}
}

// The build context must not carry the repository's history or a local
// database into the image's build stage.
func TestDockerIgnoreKeepsHistoryAndDatabasesOut(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "*.db", "*.db-wal"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(b) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
