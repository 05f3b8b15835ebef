// Package delivery plans the side effects of a finding change as outbox
// items: a Slack message per routed channel kept in sync with the finding,
// and a thread reply per change. The items are stored in the same
// transaction as the change and carried out by the outbox runtime (the
// bot's Slack lane), so a change is delivered exactly once even across
// crashes.
package delivery

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox item kinds, carried out by the bot's Slack lane.
const (
	// KindPrefix is the prefix of every kind below.
	KindPrefix = "slack."
	// KindSlackSync posts the finding's message in a channel, or updates it
	// in place when it was posted before. The Slack lane renders the
	// finding as stored when it runs, so several syncs converge on the
	// latest state.
	KindSlackSync = "slack.sync"
	// KindSlackReply adds a reply to the finding's thread in a channel.
	KindSlackReply = "slack.reply"
)

// Payload is the JSON body of Slack outbox items. It names the finding, not
// its content: the Slack lane reads the finding when it runs.
type Payload struct {
	FindingID string             `json:"finding_id"`
	Channel   string             `json:"channel"`
	Change    finding.ChangeKind `json:"change,omitempty"`
	Version   int                `json:"version"`
	By        string             `json:"by,omitempty"`
	Note      string             `json:"note,omitempty"`
}

// Combined plans a change with several planners (Slack, tickets,
// assessment) so all their items are stored with the change.
type Combined []interface {
	Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem
}

// Plan returns every planner's items.
func (c Combined) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	var out []store.OutboxItem
	for _, p := range c {
		out = append(out, p.Plan(f, change, by, note)...)
	}
	return out
}

// Planner turns finding changes into outbox items.
type Planner struct{}

// Plan returns the items for one change of f (whose Version must already be
// the new one). Findings routed to no Slack channel produce nothing here.
func (Planner) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	var out []store.OutboxItem
	for _, channel := range f.SlackChannels() {
		p := Payload{FindingID: f.ID, Channel: channel, Change: change, Version: f.Version, By: by, Note: note}
		body, _ := json.Marshal(p)
		out = append(out, store.OutboxItem{
			Key:     SyncKeyPrefix(f.ID, channel) + fmt.Sprintf("v%d", f.Version),
			Kind:    KindSlackSync,
			Payload: body,
		})
		if !quiet(change) {
			out = append(out, store.OutboxItem{
				Key:     ReplyKeyPrefix(f.ID, channel) + fmt.Sprintf("v%d", f.Version),
				Kind:    KindSlackReply,
				Payload: body,
			})
		}
	}
	return out
}

// quiet reports whether a change updates the message without a reply.
func quiet(change finding.ChangeKind) bool {
	switch change {
	case finding.ChangeCreated, finding.ChangeAssessed, finding.ChangeTicketed, finding.ChangeContained, finding.ChangeUncontained, finding.ChangeRefreshed:
		return true
	}
	return false
}

// ReplyKeyPrefix starts the keys of every thread reply of a finding in a
// channel; the key ends with the finding's version at the change.
func ReplyKeyPrefix(findingID, channel string) string {
	return KindSlackReply + "|" + findingID + "|" + channel + "|"
}

// SyncKeyPrefix starts the keys of every message sync of a finding in a
// channel; the key ends with the finding's version at the change.
func SyncKeyPrefix(findingID, channel string) string {
	return KindSlackSync + "|" + findingID + "|" + channel + "|"
}

// LaterSync reports whether one of keys (sync keys of one finding in one
// channel, as PendingOutboxKeys lists them) is for a version after
// version. A sync renders the finding as stored when it runs, so the later
// one will show everything the earlier one would have.
func LaterSync(keys []string, version int) bool {
	for _, k := range keys {
		if v, ok := keyVersion(k); ok && v > version {
			return true
		}
	}
	return false
}

func keyVersion(key string) (int, bool) {
	i := strings.LastIndex(key, "|v")
	if i < 0 {
		return 0, false
	}
	var v int
	if _, err := fmt.Sscanf(key[i+2:], "%d", &v); err != nil {
		return 0, false
	}
	return v, true
}

// EarlierReply reports whether one of keys (reply keys of one thread, as
// PendingOutboxKeys lists them) is for a change before version: replies
// are posted in the order of the changes, so a reply waits for those.
func EarlierReply(keys []string, version int) bool {
	for _, k := range keys {
		if v, ok := keyVersion(k); ok && v < version {
			return true
		}
	}
	return false
}

// Decode reads an item's payload.
func Decode(it store.OutboxItem) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return p, fmt.Errorf("decode %s payload: %w", it.Kind, err)
	}
	return p, nil
}

// NoteReplies are thread replies of a finding in every channel it is routed
// to, outside its state changes: paging, a note about the incident. tag
// tells the notes of one finding version apart (one per team paged); the
// key still ends with the version, so the reply keeps its place among the
// finding's other replies.
func NoteReplies(f finding.Finding, tag string, change finding.ChangeKind, by, note string) []store.OutboxItem {
	var out []store.OutboxItem
	for _, channel := range f.SlackChannels() {
		body, _ := json.Marshal(Payload{FindingID: f.ID, Channel: channel, Change: change, Version: f.Version, By: by, Note: note})
		out = append(out, store.OutboxItem{
			Key:     ReplyKeyPrefix(f.ID, channel) + tag + fmt.Sprintf("|v%d", f.Version),
			Kind:    KindSlackReply,
			Payload: body,
		})
	}
	return out
}
