package bot

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/respond/triage"
)

// /secops expected lists the allowlist as the triage service gives it, and
// remove takes an entry back through it; both are the service's to allow
// and audit.
func TestExpectedCommand(t *testing.T) {
	e := newEnv(t)
	e.route(findings{e.kit})
	e.tri.entries = []triage.AllowEntry{
		{ID: "E-0A1B2C3D4E", Rule: "s3-bucket-public", Account: "111122223333", Kind: triage.ScopePattern, Pattern: "public-assets-*",
			Reason: "website assets <!channel>", By: "U0ANALYST", At: t0.Add(-24 * time.Hour), ExpiresAt: t0.Add(6 * 24 * time.Hour)},
		{ID: "E-5F6A7B8C9D", Rule: "snapshot-shared-external", Account: "222233334444", Kind: triage.ScopeResource, Pattern: "restore-test",
			Reason: "nightly restore test", By: "U0DBA", At: t0.Add(-48 * time.Hour)},
	}
	e.command(responder, "expected")
	got := e.lastTold(responder)
	shown := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(got.blocks)
	for _, want := range []string{"2 allowlist entries", "E-0A1B2C3D4E", "public-assets-*", "<@U0ANALYST>", "expires", "in 6d", "until removed", "restore-test"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the list lacks %q: %s", want, shown)
		}
	}
	if strings.Contains(shown, "<!channel>") || !strings.Contains(shown, "&lt;!channel&gt;") {
		t.Error("a reason someone typed reaches the list unescaped")
	}

	e.command(responder, "expected remove e-0a1b2c3d4e")
	if got := e.lastTold(responder); !got.shows("E-0A1B2C3D4E") || !got.shows("alert again") {
		t.Errorf("told %q after the removal", got.text)
	}
	want := []string{"list by " + responder + " from command in " + secopsID, "remove E-0A1B2C3D4E by " + responder + " from command in " + secopsID}
	if strings.Join(e.tri.calls, "; ") != strings.Join(want, "; ") {
		t.Errorf("triage calls %q, want %q", e.tri.calls, want)
	}

	e.tri.err = &triage.Error{Kind: triage.ErrForbidden, Msg: "you do not hold the responder role"}
	e.command(outsider, "expected")
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" {
		t.Errorf("outsider told %q", got.text)
	}
}

// The Mark expected form's expiry reaches the triage service; a form
// without one (sent before expiries existed) lasts until removed, and an
// expiry the form never offered is read as the shortest.
func TestExpectedFormExpiry(t *testing.T) {
	for _, tc := range []struct {
		name, option string
		want         time.Duration
	}{
		{"seven days", "7d", 7 * 24 * time.Hour},
		{"until removed", "never", 0},
		{"not chosen", "", 0},
		{"forged", "forever", 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.route(findings{e.kit})
			expiry := ""
			if tc.option != "" {
				expiry = fmt.Sprintf(`,"expected.expiry":{"expiry":{"type":"radio_buttons","selected_option":{"value":%q}}}`, tc.option)
			}
			e.interact(fmt.Sprintf(`{"type":"view_submission","user":{"id":%q,"team_id":%q},"team":{"id":%q},
				"view":{"id":"V0MODAL","callback_id":"finding.expected","private_metadata":%q,"state":{"values":{
				"expected.reason":{"reason":{"type":"plain_text_input","value":"restore test"}}%s}}}}`,
				responder, acme, acme, findingID, expiry))
			want := fmt.Sprintf("expected %s by %s from modal V0MODAL: restore test (resource, for %v)", findingID, responder, tc.want)
			if len(e.tri.calls) != 1 || e.tri.calls[0] != want {
				t.Errorf("calls %q, want %q", e.tri.calls, want)
			}
		})
	}
}
