package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A first backfill on a machine without AWS credentials says so, with what
// to set, once, and leaves no empty database behind.
func TestBackfillWithoutCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "eu-central-1")

	cfg := exampleConfig(t)
	cfg.Store.Driver = "sqlite"
	cfg.Store.DSN = filepath.Join(t.TempDir(), "bot.db")
	err := Backfill(context.Background(), cfg, zerolog.Nop(), BackfillOptions{Since: 24 * time.Hour, Out: io.Discard})
	if err == nil {
		t.Fatal("backfill without credentials succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "no AWS credentials found") || !strings.Contains(msg, "AWS_PROFILE") {
		t.Errorf("error %q does not say that credentials are missing and what to set", msg)
	}
	if strings.Count(msg, "account ") > 1 {
		t.Errorf("error %q repeats its prefix", msg)
	}
	if _, err := os.Stat(cfg.Store.DSN); !os.IsNotExist(err) {
		t.Errorf("backfill without credentials created %s", cfg.Store.DSN)
	}
}
