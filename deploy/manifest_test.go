package deploy

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"gopkg.in/yaml.v3"

	"github.com/secops-bot/secops-bot/commands"
)

// wantBotScopes is the whole set of bot scopes: adding one is a decision
// (a wider grant to review), so it has to be made here too.
var wantBotScopes = []string{
	"channels:history",
	"channels:read",
	"chat:write",
	"commands",
	"groups:history",
	"groups:read",
	"im:write",
	"usergroups:read",
	"users:read",
	"users:read.email",
}

// parse decodes the manifest into slack-go's type, rejecting keys the type
// does not know, so a misspelt setting fails here instead of in Slack.
func parse(t *testing.T, raw []byte) slack.Manifest {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var m slack.Manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	return m
}

func TestSlackManifest(t *testing.T) {
	m := parse(t, SlackManifest())

	if !m.Settings.SocketModeEnabled {
		t.Error("socket_mode_enabled must be true: the bot has no public endpoint")
	}
	if m.Settings.Interactivity == nil || !m.Settings.Interactivity.IsEnabled {
		t.Error("interactivity must be enabled for buttons and modals")
	} else if m.Settings.Interactivity.RequestUrl != "" {
		t.Error("a request URL makes Slack deliver interactions over HTTP instead of the socket")
	}
	if m.Settings.EventSubscriptions != nil && m.Settings.EventSubscriptions.RequestUrl != "" {
		t.Error("an events request URL bypasses Socket Mode")
	}

	if n := len(m.Features.SlashCommands); n != 1 {
		t.Fatalf("%d slash commands, want only /secops", n)
	}
	cmd := m.Features.SlashCommands[0]
	if cmd.Command != "/secops" {
		t.Errorf("command = %q, want /secops", cmd.Command)
	}
	if cmd.Description == "" || cmd.UsageHint == "" {
		t.Error("/secops needs a description and a usage hint")
	}
	if cmd.Url != "" {
		t.Error("a slash command URL bypasses Socket Mode")
	}
	// Slack's manifest schema allows at most 1000 characters.
	if n := len(cmd.UsageHint); n > 1000 {
		t.Errorf("usage hint has %d characters, Slack takes 1000", n)
	}

	got := slices.Sorted(slices.Values(m.OAuthConfig.Scopes.Bot))
	if !slices.Equal(got, wantBotScopes) {
		t.Errorf("bot scopes = %v, want exactly %v", got, wantBotScopes)
	}
	if len(m.OAuthConfig.Scopes.User) > 0 {
		t.Errorf("user scopes %v: the bot acts as itself only", m.OAuthConfig.Scopes.User)
	}
	if m.Features.BotUser.DisplayName == "" || m.Display.Name == "" {
		t.Error("the app and its bot user need names")
	}
}

// The usage hint lists every sub-command of the parser's table, in its
// order, one " | "-separated entry each, and nothing else: a sub-command
// added to the table must be added to the manifest too.
func TestSlackManifestUsageHintFollowsTheCommandTable(t *testing.T) {
	m := parse(t, SlackManifest())
	if len(m.Features.SlashCommands) == 0 {
		t.Fatal("no slash command")
	}
	hint := m.Features.SlashCommands[0].UsageHint
	var got []string
	for _, entry := range strings.Split(hint, " | ") {
		name, args, _ := strings.Cut(strings.TrimSpace(entry), " ")
		k, ok := commands.Lookup(name)
		if !ok || k.String() != name {
			t.Errorf("usage hint entry %q names no sub-command", entry)
			continue
		}
		// The hint may shorten the arguments, never invent them.
		if args != "" && !strings.HasPrefix(k.Usage(), "/secops "+name+" ") {
			t.Errorf("usage hint entry %q has arguments, the usage %q none", entry, k.Usage())
		}
		got = append(got, name)
	}
	var want []string
	for _, k := range commands.Kinds() {
		want = append(want, k.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("usage hint lists %v, want the sub-commands of commands.Kinds() in order: %v\nusage hint: %s", got, want, hint)
	}
}

func TestSlackManifestIsACopy(t *testing.T) {
	a := SlackManifest()
	a[0] = 'X'
	if b := SlackManifest(); b[0] == 'X' {
		t.Error("changing the returned manifest changed the embedded one")
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	raw := bytes.Replace(SlackManifest(), []byte("socket_mode_enabled:"), []byte("socket_mode_enable:"), 1)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var m slack.Manifest
	if err := dec.Decode(&m); err == nil {
		t.Error("a misspelt key was accepted; the manifest test would miss typos")
	}
}
