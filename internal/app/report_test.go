package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// report only reads the store: where there is none it says what fills one
// instead of creating an empty database, and an empty window says why it
// may be empty rather than printing zeros alone.
func TestReportSaysWhereFindingsComeFrom(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	cfg.Store.Driver = "sqlite"
	cfg.Store.DSN = filepath.Join(t.TempDir(), "bot.db")

	var out bytes.Buffer
	err := Report(context.Background(), cfg, zerolog.Nop(), 30*24*time.Hour, "text", &out)
	if err == nil || !strings.Contains(err.Error(), "no database at "+cfg.Store.DSN) || !strings.Contains(err.Error(), "replay keeps nothing") {
		t.Errorf("report without a database: %v", err)
	}
	if _, err := os.Stat(cfg.Store.DSN); !os.IsNotExist(err) {
		t.Errorf("report created %s", cfg.Store.DSN)
	}

	st, err := openStore(context.Background(), cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	out.Reset()
	if err := Report(context.Background(), cfg, zerolog.Nop(), 30*24*time.Hour, "text", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "holds no findings first seen in this window") || !strings.Contains(out.String(), "replay keeps nothing") {
		t.Errorf("empty report does not say why:\n%s", out.String())
	}
}
