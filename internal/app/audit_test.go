package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

func TestAuditVerifyAndExport(t *testing.T) {
	ctx := context.Background()
	cfg := exampleConfig(t)
	cfg.Store.DSN = filepath.Join(t.TempDir(), "bot.db")
	st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"finding.ack", "breakglass.request", "breakglass.approve"} {
		if _, err := st.AppendAudit(ctx, store.AuditRecord{Time: time.Date(2026, 11, 27, 3, i, 0, 0, time.UTC), Actor: "U1@T1", Action: a, Target: "X", Result: "ok", Detail: []byte(`{"origin":"test"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var out bytes.Buffer
	if err := AuditVerify(ctx, cfg, zerolog.Nop(), &out); err != nil || !strings.Contains(out.String(), "intact: 3 records") {
		t.Fatalf("verify = %v, %q", err, out.String())
	}
	out.Reset()
	if err := AuditExport(ctx, cfg, zerolog.Nop(), time.Time{}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("exported %d lines, want 3", len(lines))
	}
	var first auditLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Seq != 1 || first.Action != "finding.ack" || string(first.Detail) != `{"origin":"test"}` {
		t.Fatalf("first line = %+v, %v", first, err)
	}

	// Tamper with the second record directly in the database.
	db, err := sql.Open("sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'U2@T1' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = AuditVerify(ctx, cfg, zerolog.Nop(), &out)
	var broken ErrAuditBroken
	if !errors.As(err, &broken) || broken.Seq != 2 {
		t.Fatalf("verify after tampering = %v, want broken at record 2", err)
	}
}
