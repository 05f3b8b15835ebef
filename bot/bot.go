// Package bot is the Slack side of secops-bot, and the only package that
// talks to Slack: it connects over Socket Mode, posts findings and keeps
// their messages in sync through the outbox, and turns slash commands,
// button presses and modal submissions into calls on the domain services,
// after checking who is acting.
//
// # Routes
//
// Every command, button and modal goes through one Router (router.go),
// filled by the features: findings (findings.go), investigation
// (investigate.go), the exposure review (review.go), containment
// (contain.go), playbook checklists (playbook.go), break-glass
// (breakglass.go) and help (help.go). A feature is a type that holds the
// shared kit (services, where findings were posted, clock, logger) and
// what it drives, and adds all its routes in its Routes method:
//
//	func (h review) Routes(r *Router) {
//		r.Action(actionReviewDone, h.done)
//	}
//
// A handler gets a *Request: who acts (its authz.Actor: UserID, TeamID),
// where (ChannelID, MessageTS, ThreadTS), the TriggerID for a modal, the
// button's Value, the submitted View or the parsed Command, and the ways to
// answer: Reply (privately), DM, Post, OpenView, UpdateView. It runs after Slack was
// acknowledged, with a deadline.
//
// To add
//   - a command: its name, usage, summary, details and examples in the
//     table of package commands, its grammar in commands.Parse, and an
//     entry in the usage hint of deploy/slack-app-manifest.yaml (tests
//     keep the three in step); then r.Command(commands.X, h.x) in the
//     feature's Routes. Help lists it as soon as it is routed.
//   - a button: an action ID in bot/blocks and r.Action(id, h.x). A route
//     also takes the IDs that continue it after a dot: "playbook.done"
//     takes "playbook.done.<step>", one route for every step.
//   - a modal: a callback ID in bot/blocks and r.View(callbackID, h.x).
//   - a feature: a type with a Routes method, listed in Bot.routes
//     (features.go), with an Enable… method when it needs a service not
//     every deployment has.
//
// Routes may be added in any order; a route added twice makes Run fail
// before it connects. Buttons and modals carry only opaque IDs: a handler
// loads the record and authorises the person at the moment it acts
// (kit.allowed, or the service's own check), every refusal is audited, and
// text a person typed is echoed only through blocks.Escape or blocks.Code.
//
// A feature is tested without Slack: its Routes on a router with a fake
// answerer, and requests sent through the router (features_test.go).
package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/netdial"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
)

// Store is what the bot reads and writes.
type Store interface {
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	ListFindings(ctx context.Context, f store.FindingFilter) ([]finding.Finding, error)
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	PendingOutboxKeys(ctx context.Context, prefix string) ([]string, error)
	PutKV(ctx context.Context, ns, key string, value []byte) error
	store.KV
}

// Config is how to reach Slack and where findings go.
type Config struct {
	AppToken string
	BotToken string
	// APIURL is the Web API base, e.g. https://slack.com/api/.
	APIURL string
	// Channels are the configured channels (names such as "#secops" or
	// IDs) the bot must be able to post to.
	Channels []string
	// Owner names this replica for leases (the claim to post a finding's
	// first message).
	Owner string
	// TicketBaseURL is the Jira base URL, to link tickets from messages.
	TicketBaseURL string
	// HTTPClient carries the Web API calls (metrics wrap it); nil uses
	// the default client.
	HTTPClient *http.Client
	// NetworkTimeout is how long the Socket Mode connection may go with
	// its peer silent before it is dropped and reopened (20s when zero).
	NetworkTimeout time.Duration
	// Throttle, when set, shares Slack's Retry-After among every call to
	// the method it was given for: once a method is rate limited, the
	// calls to it wait out the window without reaching Slack.
	Throttle *outbox.Throttle
}

// Bot is a connected Slack bot: the Socket Mode connection, the finding
// messages it keeps in sync, and the features it routes requests to.
type Bot struct {
	cfg    Config
	api    *slack.Client
	log    zerolog.Logger
	clock  clock.Clock
	org    *org.Directory
	dir    *slackDirectory
	teamID string

	// kit is shared by every feature; threads is where findings were
	// posted (also kit.threads).
	kit     *kit
	threads *threads

	// What this deployment has, recorded by the Enable… calls; Run
	// routes to it.
	containment *containment.Service
	runner      *playbooks.Runner
	breakGlass  *breakGlass
	onCall      OnCallSource
	enroller    Enroller
	exposure    ExposureReview
}

// Connect checks the tokens (auth.test) and resolves every configured
// channel, failing with a message that says what to fix when the bot could
// not post to one.
func Connect(ctx context.Context, cfg Config, dir *org.Directory, clk clock.Clock, log zerolog.Logger) (*Bot, error) {
	if !strings.HasPrefix(cfg.AppToken, "xapp-") {
		return nil, errors.New("slack app token missing or malformed: set SECOPS_SLACK_APP_TOKEN to the app-level token (xapp-…, scope connections:write)")
	}
	if !strings.HasPrefix(cfg.BotToken, "xoxb-") {
		return nil, errors.New("slack bot token missing or malformed: set SECOPS_SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…)")
	}
	if clk == nil {
		clk = clock.Real{}
	}
	opts := []slack.Option{slack.OptionAppLevelToken(cfg.AppToken)}
	if hc := throttled(cfg.HTTPClient, cfg.Throttle); hc != nil {
		opts = append(opts, slack.OptionHTTPClient(hc))
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	api := slack.New(cfg.BotToken, opts...)
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return nil, authTestError(cfg.APIURL, err)
	}
	th := &threads{channels: map[string]string{}, url: auth.URL}
	b := &Bot{
		cfg: cfg, api: api, log: log, clock: clk, org: dir,
		teamID:  auth.TeamID,
		kit:     &kit{threads: th, org: dir, clock: clk, log: log},
		threads: th,
	}
	b.dir = newSlackDirectory(api, clk, time.Minute)
	if err := b.resolveChannels(ctx); err != nil {
		return nil, err
	}
	log.Info().Str("team", auth.Team).Str("bot_user", auth.User).Int("channels", len(th.channels)).Msg("connected to Slack")
	return b, nil
}

// TeamID is the workspace the bot belongs to; actions from other teams
// (Slack Connect) are refused.
func (b *Bot) TeamID() string { return b.teamID }

// Directory answers user and user-group questions for authorisation.
func (b *Bot) Directory() authz.Directory { return b.dir }

// Wake tells the outbox there is new work, so delivery does not wait for
// the next poll.
func (b *Bot) Wake() { b.kit.wake() }

// throttled is hc (nil: slack-go's default client) with th in front of
// its transport, or hc itself without a throttle.
func throttled(hc *http.Client, th *outbox.Throttle) *http.Client {
	if th == nil {
		return hc
	}
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.Transport = th.Transport(c.Transport, slackMethod)
	return c
}

// slackMethod names the Web API method a request calls, the unit of
// Slack's rate limits.
func slackMethod(r *http.Request) string {
	return "slack " + path.Base(r.URL.Path)
}

// Run serves Socket Mode until ctx ends, then waits for work in flight.
// The outbox is delivered by the SlackLane, run beside it. It fails at once
// when two features route the same command, button or modal.
func (b *Bot) Run(ctx context.Context) error {
	router, err := b.routes()
	if err != nil {
		return fmt.Errorf("slack routes: %w", err)
	}
	s := &socket{router: router, authz: b.kit.Authz, log: b.log, seen: newSeenSet(20000)}
	return s.run(ctx, socketmode.New(b.api, socketmode.OptionDialer(socketDialer(b.cfg.NetworkTimeout))))
}

// socketDialer is slack-go's own dialer (proxy from the environment, the
// same handshake timeout and write buffer) on TCP connections that notice
// a silent peer (see netdial). slack-go only notices a missing ping from
// Slack, after 30 to 60 seconds; a socket whose far end is gone (a NAT or
// load balancer forgot it) is dropped here once what was sent goes
// unacknowledged, or keepalive probes unanswered, for the timeout.
func socketDialer(timeout time.Duration) *websocket.Dialer {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	return &websocket.Dialer{
		NetDialContext:   netdial.Dialer(timeout, 0).DialContext,
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		WriteBufferSize:  32 << 10,
	}
}

// resolveChannels maps every configured channel to its ID and checks the
// bot can post there.
func (b *Bot) resolveChannels(ctx context.Context) error {
	var byName map[string]slack.Channel
	var problems []string
	for _, want := range b.cfg.Channels {
		if want == "" {
			continue
		}
		if _, done := b.threads.channels[want]; done {
			continue
		}
		var ch *slack.Channel
		if isChannelID(want) {
			c, err := b.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: want})
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v (check the ID and invite the bot)", want, err))
				continue
			}
			ch = c
		} else {
			if byName == nil {
				var err error
				if byName, err = b.listChannels(ctx); err != nil {
					return fmt.Errorf("list Slack channels: %w", err)
				}
			}
			c, ok := byName[strings.TrimPrefix(want, "#")]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: no such channel visible to the bot (create it, or for a private channel invite the bot first)", want))
				continue
			}
			ch = &c
		}
		switch {
		case ch.IsArchived:
			problems = append(problems, fmt.Sprintf("%s: the channel is archived", want))
		case !ch.IsMember:
			problems = append(problems, fmt.Sprintf("%s: the bot is not a member; invite it with /invite @secops-bot in that channel", want))
		default:
			b.threads.channels[want] = ch.ID
			b.threads.channels[ch.ID] = ch.ID
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the bot cannot post to every configured channel:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return nil
}

func (b *Bot) listChannels(ctx context.Context) (map[string]slack.Channel, error) {
	out := map[string]slack.Channel{}
	cursor := ""
	for {
		chans, next, err := b.api.GetConversationsContext(ctx, &slack.GetConversationsParameters{
			Cursor: cursor, Limit: 1000, ExcludeArchived: false, Types: []string{"public_channel", "private_channel"},
		})
		if err != nil {
			return nil, err
		}
		for _, c := range chans {
			out[c.Name] = c
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

func isChannelID(s string) bool {
	if len(s) < 9 || (s[0] != 'C' && s[0] != 'G') {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// authTestError says what to fix when auth.test fails: the token only when
// Slack refused it; the network when Slack could not be reached, which no
// token would change.
func authTestError(apiURL string, err error) error {
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	var refused slack.SlackErrorResponse
	if errors.As(err, &refused) {
		switch refused.Err {
		case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type":
			return fmt.Errorf("slack refused the bot token (%s): check SECOPS_SLACK_BOT_TOKEN, the Bot User OAuth Token (xoxb-…) of the installed app", refused.Err)
		}
		return fmt.Errorf("slack auth.test: %w", err)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Errorf("cannot reach Slack: looking up %s failed (%v): check DNS and network access from this host (and slack.api_url if set)", dns.Name, dns.Err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("cannot reach Slack at %s: %w: check network access, any HTTPS proxy (HTTPS_PROXY) and slack.api_url", apiURL, err)
	}
	return fmt.Errorf("slack auth.test at %s: %w", apiURL, err)
}
