package delivery

import (
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

func TestEarlierReply(t *testing.T) {
	prefix := ReplyKeyPrefix("F-0A1B2C3D4E", "#secops")
	tests := []struct {
		name    string
		keys    []string
		version int
		want    bool
	}{
		{"no pending reply", nil, 3, false},
		{"only itself", []string{prefix + "v3"}, 3, false},
		{"an earlier change", []string{prefix + "v2", prefix + "v3"}, 3, true},
		{"only later changes", []string{prefix + "v3", prefix + "v4", prefix + "v12"}, 3, false},
		{"numbers, not text", []string{prefix + "v10"}, 9, false},
		{"unreadable key ignored", []string{prefix + "vx", "garbage"}, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EarlierReply(tc.keys, tc.version); got != tc.want {
				t.Errorf("EarlierReply(%q, %d) = %v, want %v", tc.keys, tc.version, got, tc.want)
			}
		})
	}
}

func TestReplyKeysShareThePrefix(t *testing.T) {
	f := struct{ id, ch string }{"F-0A1B2C3D4E", "#secops"}
	items := Planner{}.Plan(findingFor(f.id, 7, "slack:"+f.ch), finding.ChangeAcknowledged, "U1", "")
	var found bool
	for _, it := range items {
		if it.Kind == KindSlackReply {
			found = true
			if want := ReplyKeyPrefix(f.id, f.ch) + "v7"; it.Key != want {
				t.Errorf("reply key = %q, want %q", it.Key, want)
			}
		}
	}
	if !found {
		t.Fatal("an acknowledgement planned no reply")
	}
}

func findingFor(id string, version int, routes ...string) finding.Finding {
	return finding.Finding{ID: id, Version: version, Routes: routes}
}

func TestLaterSync(t *testing.T) {
	prefix := SyncKeyPrefix("F-0A1B2C3D4E", "#secops")
	tests := []struct {
		name    string
		keys    []string
		version int
		want    bool
	}{
		{"nothing pending", nil, 2, false},
		{"only itself", []string{prefix + "v2"}, 2, false},
		{"an older one", []string{prefix + "v1", prefix + "v2"}, 2, false},
		{"a newer one", []string{prefix + "v2", prefix + "v3"}, 2, true},
		{"numbers, not text", []string{prefix + "v10"}, 9, true},
		{"unreadable key ignored", []string{prefix + "vx"}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LaterSync(tc.keys, tc.version); got != tc.want {
				t.Errorf("LaterSync(%q, %d) = %v, want %v", tc.keys, tc.version, got, tc.want)
			}
		})
	}
}

// Which changes reply in the thread and which only update the messages.
func TestPlanReplies(t *testing.T) {
	tests := []struct {
		change finding.ChangeKind
		reply  bool
	}{
		{finding.ChangeCreated, false},
		{finding.ChangeAssessed, false},
		{finding.ChangeTicketed, false},
		{finding.ChangeRefreshed, false},
		{finding.ChangeRepeated, true},
		{finding.ChangeUpdated, true},
		{finding.ChangeResolved, true},
		{finding.ChangeReopened, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.change), func(t *testing.T) {
			var syncs, replies int
			for _, it := range (Planner{}).Plan(findingFor("F-0A1B2C3D4E", 2, "slack:#secops", "jira:SEC"), tc.change, "system", "") {
				switch it.Kind {
				case KindSlackSync:
					syncs++
				case KindSlackReply:
					replies++
				}
			}
			if syncs != 1 || (replies == 1) != tc.reply {
				t.Errorf("%d syncs, %d replies; want 1 sync and a reply: %v", syncs, replies, tc.reply)
			}
		})
	}
}

// Outbox items already stored name their change in plain words: they still
// decode to the same change after an upgrade, and a new item is written
// the same way.
func TestStoredChangeNames(t *testing.T) {
	tests := []struct {
		stored string
		want   finding.ChangeKind
	}{
		{"created", finding.ChangeCreated},
		{"repeated", finding.ChangeRepeated},
		{"updated", finding.ChangeUpdated},
		{"reopened", finding.ChangeReopened},
		{"resolved", finding.ChangeResolved},
		{"refreshed", finding.ChangeRefreshed},
		{"acknowledged", finding.ChangeAcknowledged},
		{"suppressed", finding.ChangeSuppressed},
		{"expected", finding.ChangeExpected},
		{"contained", finding.ChangeContained},
		{"uncontained", finding.ChangeUncontained},
		{"assessed", finding.ChangeAssessed},
		{"rerouted", finding.ChangeRerouted},
		{"ticketed", finding.ChangeTicketed},
		{"reads-reviewed", finding.ChangeReadsReviewed},
		{"review-closed", finding.ChangeReviewClosed},
		{"page", finding.ChangePage},
	}
	for _, tc := range tests {
		t.Run(tc.stored, func(t *testing.T) {
			stored := `{"finding_id":"F-0A1B2C3D4E","channel":"C0SECOPS","change":"` + tc.stored + `","version":3,"by":"U0ALICE"}`
			p, err := Decode(store.OutboxItem{Kind: KindSlackReply, Payload: []byte(stored)})
			if err != nil || p.Change != tc.want {
				t.Fatalf("Decode(%s) = %+v, %v; want change %q", stored, p, err, tc.want)
			}
			items := NoteReplies(findingFor("F-0A1B2C3D4E", 3, "slack:#secops"), "t", tc.want, "U0ALICE", "")
			if len(items) != 1 || !strings.Contains(string(items[0].Payload), `"change":"`+tc.stored+`"`) {
				t.Errorf("planned %d items %v, want one with the change written as %q", len(items), items, tc.stored)
			}
		})
	}
}
