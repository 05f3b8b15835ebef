package blocks

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// checkReaders runs every modal reader on v and checks what a handler
// relies on: no panic, and a nil error only with the pointers and the
// reason present and trimmed. Everything else is the handler's business
// (it reloads and re-authorises), so the readers must not invent values.
func checkReaders(t *testing.T, v slack.View) {
	t.Helper()
	trimmed := func(s string) bool { return s == strings.TrimSpace(s) }

	if s, err := ReadResolve(v); err == nil {
		if s.FindingID == "" || s.Reason == "" || !trimmed(s.FindingID) || !trimmed(s.Reason) {
			t.Fatalf("ReadResolve accepted %+v", s)
		}
	}
	if s, err := ReadExpected(v); err == nil {
		switch {
		case s.FindingID == "" || s.Reason == "" || !trimmed(s.FindingID) || !trimmed(s.Reason):
			t.Fatalf("ReadExpected accepted %+v", s)
		case s.Scope != ScopeResource && s.Scope != ScopePattern:
			t.Fatalf("ReadExpected returned scope %q", s.Scope)
		case s.Scope == ScopePattern && (s.Pattern == "" || !trimmed(s.Pattern)):
			t.Fatalf("ReadExpected accepted a pattern scope without a pattern: %+v", s)
		case s.Scope == ScopeResource && s.Pattern != "":
			t.Fatalf("ReadExpected kept a pattern %q for the resource scope", s.Pattern)
		}
	} else if s.Scope != ScopeResource && s.Scope != ScopePattern {
		t.Fatalf("ReadExpected returned scope %q with %v", s.Scope, err)
	}
	if id, err := ReadContainConfirm(v); err == nil {
		if id == "" || !trimmed(id) {
			t.Fatalf("ReadContainConfirm accepted %q", id)
		}
	} else if id != "" {
		t.Fatalf("ReadContainConfirm returned %q with %v", id, err)
	}
	if s, err := ReadBreakglassRequest(v); err == nil {
		if s.Account == "" || s.Level == "" || s.Reason == "" || !trimmed(s.Reason) || s.Duration < 0 {
			t.Fatalf("ReadBreakglassRequest accepted %+v", s)
		}
	} else if s.Duration < 0 {
		t.Fatalf("ReadBreakglassRequest returned a negative duration %v", s.Duration)
	}
	if id, reason, err := ReadBreakglassDeny(v); err == nil {
		if id == "" || reason == "" || !trimmed(id) || !trimmed(reason) {
			t.Fatalf("ReadBreakglassDeny accepted %q, %q", id, reason)
		}
	}
}

// FuzzReadModalsJSON feeds the readers views decoded the way slack-go
// decodes a view_submission payload: whatever a client (or someone forging
// one) can put in private_metadata and state.
func FuzzReadModalsJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `{"private_metadata":"F-0A1B2C3D4E","state":{"values":{}}}`,
		`{"private_metadata":"F-0A1B2C3D4E","state":{"values":{"resolve.reason":{"reason":{"type":"plain_text_input","value":" fixed "}}}}}`,
		`{"private_metadata":" F-1 ","state":{"values":{"expected.reason":{"reason":{"value":"ok"}},"expected.scope":{"scope":{"selected_option":{"value":"pattern"}}},"expected.pattern":{"pattern":{"value":"  "}}}}}`,
		`{"private_metadata":"ctr-1","state":{"values":{"breakglass.target":{"target":{"selected_option":{"value":"111122223333/incident-responder"}}},"breakglass.duration":{"duration":{"selected_option":{"value":"-30m"}}},"breakglass.reason":{"reason":{"value":"x"}}}}}`,
		`{"private_metadata":"BG-1","state":{"values":{"breakglass.deny.why":{"why":{"value":"no"}}}}}`,
		`{"private_metadata":"\u0000","state":{"values":{"breakglass.target":{"target":{"selected_option":{"value":"/"}}}}}}`,
		`{"state":null}`, `{"state":{"values":{"x":null}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v slack.View
		if err := json.Unmarshal(raw, &v); err != nil {
			return
		}
		checkReaders(t, v)
	})
}

// FuzzReadModalFields builds a view from typed-in values, so that the
// fuzzer spends its time on the values rather than on JSON syntax.
func FuzzReadModalFields(f *testing.F) {
	f.Add("F-0A1B2C3D4E", "share removed", "pattern", "prod-*", "111122223333/incident-responder", "30m")
	f.Add("  ", "\t", "resource", "", "/", "0s")
	f.Add("BG-1", "x", "other", " ", "acct/", "-1h")
	f.Add("\u00a0F-1\u00a0", "\u2028", "pattern", "\u3000", "a/b/c", "9223372036s")
	f.Fuzz(func(t *testing.T, meta, reason, scope, pattern, target, duration string) {
		if !utf8.ValidString(meta + reason + scope + pattern + target + duration) {
			return // Slack sends UTF-8 only
		}
		text := func(s string) slack.BlockAction { return slack.BlockAction{Type: "plain_text_input", Value: s} }
		option := func(s string) slack.BlockAction {
			return slack.BlockAction{Type: "static_select", SelectedOption: slack.OptionBlockObject{Value: s}}
		}
		v := slack.View{PrivateMetadata: meta, State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			BlockResolveReason:      {ActionResolveReason: text(reason)},
			BlockExpectedReason:     {ActionExpectedReason: text(reason)},
			BlockExpectedScope:      {ActionExpectedScope: option(scope)},
			BlockExpectedPattern:    {ActionExpectedPattern: text(pattern)},
			BlockBreakglassTarget:   {ActionBreakglassTarget: option(target)},
			BlockBreakglassDuration: {ActionBreakglassDur: option(duration)},
			BlockBreakglassReason:   {ActionBreakglassReason: text(reason)},
			BlockBreakglassFinding:  {ActionBreakglassFinding: text(pattern)},
			BlockBreakglassDenyWhy:  {ActionBreakglassDenyWhy: text(reason)},
		}}}
		checkReaders(t, v)
		// A view with no state at all reads as incomplete, never as a
		// submission.
		empty := slack.View{PrivateMetadata: meta}
		if _, err := ReadResolve(empty); err == nil {
			t.Fatal("ReadResolve accepted a view without state")
		}
		if _, _, err := ReadBreakglassDeny(empty); err == nil {
			t.Fatal("ReadBreakglassDeny accepted a view without state")
		}
		checkReaders(t, empty)
	})
}
