package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/ops/audit"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

func TestAuditVerifyAndExport(t *testing.T) {
	t.Parallel()
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
	if err := AuditVerify(ctx, cfg, zerolog.Nop(), AuditVerifyOptions{}, &out); err != nil || !strings.Contains(out.String(), "intact: 3 records") {
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
	err = AuditVerify(ctx, cfg, zerolog.Nop(), AuditVerifyOptions{}, &out)
	var broken ErrAuditBroken
	if !errors.As(err, &broken) || broken.Seq != 2 {
		t.Fatalf("verify after tampering = %v, want broken at record 2", err)
	}
}

// With keys and a Slack anchor channel, serve seals the audit log with the
// key and posts its head in the channel when it stops; someone who cuts the
// newest records from the database is caught by verify against that
// anchor, as the message tells people to run it.
func TestAuditAnchoredInSlack(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	audCh := e.emu.PutChannel(slackemu.Channel{Name: "secops-audit"})
	e.cfg.Audit.Keys = "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	e.cfg.Audit.SlackChannel = "#secops-audit"
	e.start(t)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(topLevel(e.emu.Messages(e.secops))[0].Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message")
	}
	for _, text := range []string{"ack " + id[1], "investigate BackupManager"} {
		if _, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: text, UserID: responder, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
	}
	e.wait(t, "both answers", func() bool { return len(e.emu.Ephemerals()) >= 2 })
	e.stop(t)

	var anchor string
	for _, m := range e.emu.Messages(audCh) {
		if a := regexp.MustCompile(`--anchor ([0-9]+:hmac-k1:[0-9a-f]+)`).FindStringSubmatch(m.Text); a != nil {
			anchor = a[1]
		}
	}
	if anchor == "" {
		t.Fatalf("no keyed anchor posted in #secops-audit: %+v", e.emu.Messages(audCh))
	}
	a, err := audit.ParseAnchor(anchor)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := AuditVerify(ctx, e.cfg, zerolog.Nop(), AuditVerifyOptions{Anchor: &a}, &out); err != nil || !strings.Contains(out.String(), "matches the given anchor") {
		t.Fatalf("verify of the untouched log = %v, %q", err, out.String())
	}
	db, err := sql.Open("sqlite", e.cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE seq = ?`, a.Seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = AuditVerify(ctx, e.cfg, zerolog.Nop(), AuditVerifyOptions{Anchor: &a}, &out)
	var broken ErrAuditBroken
	if !errors.As(err, &broken) || !strings.Contains(err.Error(), "cut from the end") {
		t.Fatalf("verify after cutting the newest record = %v", err)
	}
}
