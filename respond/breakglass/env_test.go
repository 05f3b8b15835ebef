package breakglass_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/grant"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// The cast of every test.
const (
	team       = "T0EMU0001"
	requester  = "U0RESPOND1" // a responder
	lead       = "U0LEAD0001" // a responder who is also an approver
	manager    = "U0MANAGER1" // approvers
	manager2   = "U0MANAGER2"
	outsider   = "U0OUTSIDE1" // a responder, not an approver
	admin      = "U0ADMIN001"
	approvers  = "C0APPROVE"
	secops     = "C0SECOPS"
	teamChan   = "C0PAYMENTS"
	prodAcct   = "111122223333"
	stageAcct  = "444455556666"
	icAcct     = "777788889999"
	roleARN    = "arn:aws:iam::" + prodAcct + ":role/BreakGlassResponder"
	stageRole  = "arn:aws:iam::" + stageAcct + ":role/BreakGlass"
	instance   = "arn:aws:sso:::instance/ssoins-1111111111111111"
	permSet    = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222"
	identityID = "d-1234567890"
	findingID  = "F-7C1D9E2A44"
)

var t0 = time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)

// env is one test's world: the Slack emulator, the AWS fakes, a store on
// disk and a fake clock shared by all of them.
type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	emu   *slackemu.Server
	api   *slack.Client
	aws   *awsfake.Server
	sts   *awsfake.STS
	iam   *awsfake.IAM
	sso   *awsfake.SSOAdmin
	st    *sqlite.Store
	cfg   breakglass.Config
	svc   *breakglass.Service
	w     *outbox.Runtime // the timers of one replica
	auth  *authz.Authorizer
	grant *grant.Provider
	// findingTS is the root of the finding's thread in the team channel.
	findingTS string
}

func newEnv(t *testing.T, tweak ...func(*breakglass.Config)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(t0)}

	e.emu = slackemu.New(slackemu.Options{TeamID: team})
	e.emu.Start()
	t.Cleanup(e.emu.Close)
	for _, u := range []slackemu.User{
		{ID: requester, Name: "ana", Email: "ana@example.com"},
		{ID: lead, Name: "lee", Email: "lee@example.com"},
		{ID: manager, Name: "max", Email: "max@example.com"},
		{ID: manager2, Name: "mia", Email: "mia@example.com"},
		{ID: outsider, Name: "oli", Email: "oli@example.com"},
		{ID: admin, Name: "ada", Email: "ada@example.com"},
	} {
		e.emu.PutUser(u)
	}
	for _, c := range []string{approvers, secops, teamChan} {
		e.emu.PutChannel(slackemu.Channel{ID: c})
	}
	opts := e.emu.Options()
	e.api = slack.New(opts.BotToken, slack.OptionAPIURL(e.emu.APIURL()))
	_, ts, err := e.api.PostMessage(teamChan, slack.MsgOptionText("finding "+findingID, false))
	if err != nil {
		t.Fatal(err)
	}
	e.findingTS = ts

	e.aws = awsfake.New()
	t.Cleanup(e.aws.Close)
	e.sts = awsfake.NewSTS(e.aws.Identities(), e.clk)
	e.iam = awsfake.NewIAM(e.clk)
	e.sso = awsfake.NewSSOAdmin()
	e.aws.Handle("sts", e.sts)
	e.aws.Handle("iam", e.iam)
	e.aws.Handle("sso", e.sso)
	e.aws.Handle("identitystore", e.sso)
	e.iam.AddRole(prodAcct, awsfake.IAMRole{Name: "BreakGlassResponder", MaxSessionDuration: 7200})
	e.sts.SetMaxSessionDuration(roleARN, 2*time.Hour)
	e.iam.AddRole(stageAcct, awsfake.IAMRole{Name: "BreakGlass", MaxSessionDuration: 3600})
	e.sso.AddUser(identityID, "user-ana", "ana@example.com")

	fed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s map[string]string
		if r.URL.Query().Get("Action") != "getSigninToken" || json.Unmarshal([]byte(r.URL.Query().Get("Session")), &s) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": "signin-" + s["sessionId"]})
	}))
	t.Cleanup(fed.Close)
	e.grant = grant.New(accounts{e.aws}, e.clk, grant.Options{
		FederationURL: fed.URL + "/federation",
		PortalURL:     "https://d-1234567890.awsapps.com/start",
		Sleep:         func(context.Context, time.Duration) error { return nil },
	})

	st, err := sqlite.Open(e.ctx, filepath.Join(t.TempDir(), "secops.db"), sqlite.Options{Clock: e.clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.st = st

	e.cfg = breakglass.Config{
		ApproversChannel: approvers,
		SecOpsChannel:    secops,
		PortalURL:        "https://d-1234567890.awsapps.com/start",
		Accounts: []breakglass.AccountPolicy{
			{ID: prodAcct, Name: "payments-prod", Mode: breakglass.ModeAssumeRole, Levels: []breakglass.Level{
				{Name: "incident-responder", RoleARN: roleARN},
			}},
			{ID: stageAcct, Name: "payments-staging", Mode: breakglass.ModeAssumeRole, Levels: []breakglass.Level{
				{Name: "admin", RoleARN: stageRole},
			}},
			{ID: icAcct, Name: "analytics", Mode: breakglass.ModeIdentityCenter, InstanceARN: instance, IdentityStoreID: identityID, Levels: []breakglass.Level{
				{Name: "AdministratorAccess", PermissionSetARN: permSet},
			}},
		},
	}
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.auth = authz.New(authz.Roles{
		Responders: []string{requester, lead, outsider},
		Approvers:  []string{lead, manager, manager2},
		Admins:     []string{admin},
	}, team, directory{e.api}, e.clk, 0)
	e.start()
	return e
}

// start builds the service as the bot does at start-up; calling it again
// simulates a restart on the same store.
func (e *env) start() {
	e.t.Helper()
	svc, err := breakglass.New(e.cfg, breakglass.Deps{
		Store:   e.st,
		Auth:    e.auth,
		Notify:  notifier{e.api},
		Granter: e.grant,
		Threads: threads{teamChan, e.findingTS},
		OnCall:  onCall{manager},
		Emails:  directory{e.api},
		Clock:   e.clk,
		Log:     zerolog.Nop(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.w = e.timers("test-replica", e.st, svc)
}

// timers is a replica's outbox runtime carrying the service's timers.
func (e *env) timers(owner string, st outbox.Store, svc *breakglass.Service) *outbox.Runtime {
	e.t.Helper()
	rt := outbox.New(st, owner, e.clk, zerolog.Nop())
	if err := rt.Add(svc.Timers(time.Second)); err != nil {
		e.t.Fatal(err)
	}
	return rt
}

// actor is a Slack user acting in team.
func actor(user, team string) authz.Actor { return authz.Actor{UserID: user, TeamID: team} }

// run runs the due timers.
func (e *env) run() {
	e.t.Helper()
	e.w.Drain(e.ctx)
}

func (e *env) request(account string, d time.Duration) breakglass.Request {
	e.t.Helper()
	r, err := e.svc.Request(e.ctx, breakglass.NewRequest{
		Requester: actor(requester, team), Account: account, Duration: d,
		Reason: "snapshot shared with an unknown account; removing the share", FindingID: findingID,
	})
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	return r
}

func (e *env) get(id string) breakglass.Request {
	e.t.Helper()
	r, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// shown returns the current text and blocks of one of the request's
// messages, as Slack holds them.
func (e *env) shown(r breakglass.Request, place string) string {
	e.t.Helper()
	ref, ok := e.get(r.ID).Message(place)
	if !ok {
		e.t.Fatalf("request %s has no %s message", r.ID, place)
	}
	m, ok := e.emu.Message(ref.Channel, ref.TS)
	if !ok {
		e.t.Fatalf("the emulator holds no message %s/%s", ref.Channel, ref.TS)
	}
	return m.Text + "\n" + unescapeJSON.Replace(string(m.Blocks))
}

// unescapeJSON undoes the HTML escaping of encoding/json, so that tests
// compare against the mrkdwn Slack shows.
var unescapeJSON = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

func (e *env) audit() []string {
	e.t.Helper()
	recs, err := e.svc.AuditLog(e.ctx, time.Time{}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, strings.TrimPrefix(recs[i].Action, "breakglass.")+":"+recs[i].Result+":"+recs[i].Actor)
	}
	return out
}

func (e *env) revokePolicy(account, role string) (string, bool) {
	r, ok := e.iam.Role(account, role)
	if !ok {
		e.t.Fatalf("no role %s in %s", role, account)
	}
	name, doc := grant.NewestRevokePolicy(r.Policies, requester)
	return doc, name != ""
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func lacks(t *testing.T, what, got string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(got, w) {
			t.Errorf("%s still shows %q:\n%s", what, w, got)
		}
	}
}

// accounts hands out static credentials the AWS fakes map to the bot's
// role in each account.
type accounts struct{ srv *awsfake.Server }

func (a accounts) For(_ context.Context, account string) (aws.Config, error) {
	key := "AKIDBOT" + account
	a.srv.Identities().Add(key, "arn:aws:iam::"+account+":role/secops-bot")
	return aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(a.srv.URL()), HTTPClient: a.srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", ""),
	}, nil
}

// ForAction hands out the same credentials for changes: these tests are
// about the break-glass flow, and providers/aws/grant tests its write
// sessions.
func (a accounts) ForAction(ctx context.Context, account string, _ awsclient.Scope) (aws.Config, error) {
	return a.For(ctx, account)
}

// notifier is the Slack side as the bot will implement it: the blocks
// package renders, slack-go sends, and the emulator validates the Block Kit.
type notifier struct{ api *slack.Client }

func (n notifier) opts(m breakglass.Message) []slack.MsgOption {
	text, bl := blocks.BreakglassMessage(m, time.UTC)
	return []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bl...)}
}

func (n notifier) Post(ctx context.Context, channel, threadTS string, m breakglass.Message) (string, error) {
	opts := n.opts(m)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, ts, err := n.api.PostMessageContext(ctx, channel, opts...)
	return ts, err
}

func (n notifier) Update(ctx context.Context, channel, ts string, m breakglass.Message) error {
	_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, n.opts(m)...)
	return err
}

func (n notifier) DM(ctx context.Context, user string, m breakglass.Message) (string, string, error) {
	ch, _, _, err := n.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return "", "", err
	}
	ts, err := n.Post(ctx, ch.ID, "", m)
	return ch.ID, ts, err
}

// directory answers authz and email lookups from the emulator's users.
type directory struct{ api *slack.Client }

func (d directory) User(ctx context.Context, id string) (authz.User, error) {
	u, err := d.api.GetUserInfoContext(ctx, id)
	if err != nil {
		if strings.Contains(err.Error(), "user_not_found") {
			return authz.User{}, authz.ErrUnknownUser
		}
		return authz.User{}, err
	}
	return authz.User{Actor: actor(u.ID, u.TeamID), Name: u.Name, Deleted: u.Deleted, IsBot: u.IsBot,
		Restricted: u.IsRestricted, UltraRestricted: u.IsUltraRestricted}, nil
}

func (d directory) GroupMembers(context.Context, string) ([]string, error) {
	return nil, errors.New("no user groups in these tests")
}

func (d directory) Email(ctx context.Context, id string) (string, error) {
	u, err := d.api.GetUserInfoContext(ctx, id)
	if err != nil {
		return "", err
	}
	return u.Profile.Email, nil
}

type threads struct{ channel, ts string }

func (th threads) FindingThread(_ context.Context, id string) (string, string, error) {
	if id != findingID {
		return "", "", store.ErrNotFound
	}
	return th.channel, th.ts, nil
}

type onCall []string

func (o onCall) Approvers(context.Context) ([]string, error) { return o, nil }

// forceApproved rewrites a pending request as a crash between the decision
// and the grant leaves it.
func (e *env) forceApproved(id, by string) {
	e.t.Helper()
	raw, err := e.st.GetKV(e.ctx, "breakglass", "req/"+id)
	if err != nil {
		e.t.Fatal(err)
	}
	var r breakglass.Request
	if err := json.Unmarshal(raw, &r); err != nil {
		e.t.Fatal(err)
	}
	now := e.clk.Now()
	r.State, r.DecidedBy, r.DecidedAt = breakglass.StateApproved, by, now
	r.Approvals = []breakglass.Approval{{User: by, At: now}}
	r.StartedAt, r.EndsAt = now, now.Add(r.Duration)
	next, _ := json.Marshal(r)
	if err := e.st.PutKV(e.ctx, "breakglass", "req/"+id, next); err != nil {
		e.t.Fatal(err)
	}
}
