// Package grant gives and takes back break-glass access in AWS. It
// implements breakglass.Granter (with the SessionLimiter and Sweeper
// capabilities) in two modes:
//
//   - assume-role: STS AssumeRole on the account's break-glass role for the
//     time left in the window, with the requester as SourceIdentity and the
//     request in session tags, plus a console sign-in link from the
//     federation endpoint. Revocation puts an inline deny-all policy on the
//     role for sessions of that requester issued before now, which ends
//     live sessions too (expiring credentials alone would not). Revoke
//     policies that no live session can need any more are deleted on each
//     revocation and grant, so that they stay within IAM's quota.
//   - identity-center: CreateAccountAssignment of the permission set to the
//     requester's Identity Center user (found by email), waited on until it
//     succeeds; revocation deletes the assignment.
//
// Reads (a role's maximum session, the Identity Center user, the current
// assignments) use the account's member role. Everything that grants or
// takes back access runs in a write session of its own
// (awsclient.ForAction), limited by its session policy to exactly the
// calls it makes on exactly the break-glass role, or the instance,
// permission set and account of the assignment. The session of a grant
// carries the requester as SourceIdentity, since STS keeps a chain's
// source identity and the break-glass session must carry the requester;
// a revocation's carries whoever ended the access.
package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/respond/breakglass"
)

// ConfigSource gives the AWS configuration to read in an account, and a
// write session limited to one change (awsclient.Clients).
type ConfigSource interface {
	For(ctx context.Context, accountID string) (aws.Config, error)
	ForAction(ctx context.Context, accountID string, s awsclient.Scope) (aws.Config, error)
}

// The IAM actions of each write session.
var (
	// A grant assumes the break-glass role with the requester as
	// SourceIdentity and the request in session tags, then tidies the
	// role's stale revoke policies (pruneRevokePolicies).
	grantActions = []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession",
		"iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies"}
	// A revocation puts a deny policy on the role and tidies the rest.
	revokeActions = []string{"iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:PutRolePolicy"}
	assignActions = []string{"sso:CreateAccountAssignment", "sso:DescribeAccountAssignmentCreationStatus"}
	// unassignActions also find the user by email when the grant did not
	// record it.
	unassignActions = []string{"sso:DeleteAccountAssignment", "sso:DescribeAccountAssignmentDeletionStatus"}
)

// roleResources names a break-glass role for a session policy: without a
// path and with any path, as a role's name is unique in its account
// whatever its path.
func roleResources(roleARN string) ([]string, error) {
	p, err := awsarn.ParsePrincipal(roleARN)
	if err != nil || p.Kind != awsarn.KindRole {
		return nil, fmt.Errorf("%q is not a role ARN", roleARN)
	}
	part := p.ARN().Partition
	return []string{
		awsarn.IAMRole(part, p.Account, "", p.Name).String(),
		awsarn.IAMRole(part, p.Account, "/*/", p.Name).String(),
	}, nil
}

// writeFor opens the write session of one grant or revocation.
func (p *Provider) writeFor(ctx context.Context, account string, g breakglass.Grant, actor string, actions, resources []string) (aws.Config, error) {
	if actor == "" {
		actor = g.Requester
	}
	cfg, err := p.src.ForAction(ctx, account, awsclient.Scope{Actions: actions, Resources: resources, Actor: actor, ActionID: g.RequestID})
	if err != nil {
		return aws.Config{}, fmt.Errorf("write session for %s in %s: %w", g.RequestID, account, err)
	}
	return cfg, nil
}

// Defaults of Options.
const (
	DefaultFederationURL = "https://signin.aws.amazon.com/federation"
	DefaultDestination   = "https://console.aws.amazon.com/"
	DefaultIssuer        = "secops-bot"
)

// Options tune the provider; zero values take the defaults.
type Options struct {
	// FederationURL is the sign-in federation endpoint.
	FederationURL string
	// Destination is the console page the sign-in link opens.
	Destination string
	// Issuer is where the console sends the user on sign-out.
	Issuer string
	// PortalURL is the Identity Center access portal given to requesters
	// granted a permission set.
	PortalURL string
	// IdentityCenterAccount is the account whose configuration is used for
	// SSO Admin and Identity Store calls (the management or delegated
	// administrator account); the target account when empty.
	IdentityCenterAccount string
	// HTTPClient calls the federation endpoint (http.DefaultClient when nil).
	HTTPClient *http.Client
	// PollInterval and PollTimeout bound the wait for an Identity Center
	// assignment (1s and 2m).
	PollInterval, PollTimeout time.Duration
	// Sleep waits between polls; tests replace it. time.Sleep honouring ctx
	// when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives what tidying the break-glass roles did or could
	// not do (silent when zero).
	Logger zerolog.Logger
}

// Provider implements breakglass.Granter.
type Provider struct {
	src  ConfigSource
	clk  clock.Clock
	opts Options
}

var (
	_ breakglass.Granter        = (*Provider)(nil)
	_ breakglass.SessionLimiter = (*Provider)(nil)
	_ breakglass.Sweeper        = (*Provider)(nil)
)

// New returns a provider. A nil clock is the wall clock.
func New(src ConfigSource, clk clock.Clock, opts Options) *Provider {
	if clk == nil {
		clk = clock.Real{}
	}
	if opts.FederationURL == "" {
		opts.FederationURL = DefaultFederationURL
	}
	if opts.Destination == "" {
		opts.Destination = DefaultDestination
	}
	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 2 * time.Minute
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Provider{src: src, clk: clk, opts: opts}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// minSession is the shortest session STS issues.
const minSession = 900 * time.Second

// Tag keys on break-glass sessions.
const (
	TagRequest   = "secops-breakglass-request"
	TagRequester = "secops-breakglass-requester"
)

// Grant gives access as the account's mode says.
func (p *Provider) Grant(ctx context.Context, g breakglass.Grant) (breakglass.Access, error) {
	switch g.Policy.Mode {
	case breakglass.ModeAssumeRole:
		return p.assumeRole(ctx, g)
	case breakglass.ModeIdentityCenter:
		return p.assign(ctx, g)
	}
	return breakglass.Access{}, fmt.Errorf("grant %s: unknown mode %q", g.RequestID, g.Policy.Mode)
}

// Revoke takes access back; it is safe to repeat.
func (p *Provider) Revoke(ctx context.Context, g breakglass.Grant) error {
	switch g.Policy.Mode {
	case breakglass.ModeAssumeRole:
		return p.denyOlderSessions(ctx, g)
	case breakglass.ModeIdentityCenter:
		return p.unassign(ctx, g)
	}
	return fmt.Errorf("revoke %s: unknown mode %q", g.RequestID, g.Policy.Mode)
}

// sourceIdentityRe is what STS accepts as a SourceIdentity (and a session
// name): 2 to 64 of [\w+=,.@-].
var sourceIdentityRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (p *Provider) assumeRole(ctx context.Context, g breakglass.Grant) (breakglass.Access, error) {
	if !sourceIdentityRe.MatchString(g.Requester) {
		return breakglass.Access{}, fmt.Errorf("assume %s: requester %q cannot be a source identity", g.Level.RoleARN, g.Requester)
	}
	resources, err := roleResources(g.Level.RoleARN)
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assume %s: %w", g.Level.RoleARN, err)
	}
	// The requester, not the approver, is the session's source identity:
	// the break-glass session chained from it must carry the requester,
	// and STS does not let a chain change its source identity.
	cfg, err := p.writeFor(ctx, g.Account, g, g.Requester, grantActions, resources)
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assume %s: %w", g.Level.RoleARN, err)
	}
	left := g.Until.Sub(p.clk.Now())
	if left <= 0 {
		return breakglass.Access{}, fmt.Errorf("assume %s: the window already ended", g.Level.RoleARN)
	}
	// STS issues no session shorter than 15 minutes; the revocation at the
	// end of the window covers the difference.
	secs := int32(max(left, minSession).Round(time.Second) / time.Second)
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(g.Level.RoleARN),
		RoleSessionName: aws.String(sessionName(g.RequestID)),
		DurationSeconds: aws.Int32(secs),
		SourceIdentity:  aws.String(g.Requester),
		Tags: []ststypes.Tag{
			{Key: aws.String(TagRequest), Value: aws.String(g.RequestID)},
			{Key: aws.String(TagRequester), Value: aws.String(g.Requester)},
		},
	})
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assume %s: %w", g.Level.RoleARN, err)
	}
	c := out.Credentials
	if c == nil {
		return breakglass.Access{}, fmt.Errorf("assume %s: no credentials in the answer", g.Level.RoleARN)
	}
	creds := &breakglass.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expires:         aws.ToTime(c.Expiration),
	}
	link, err := p.consoleLink(ctx, creds, time.Duration(secs)*time.Second)
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assume %s: %w", g.Level.RoleARN, err)
	}
	p.tidyOnGrant(ctx, cfg, g)
	return breakglass.Access{Credentials: creds, ConsoleURL: link}, nil
}

// tidyOnGrant deletes stale revoke policies from the role just granted,
// within a short budget, so that room is made before a revocation needs
// it. It never fails the grant: the access is already given, and the
// revocation prunes again.
func (p *Provider) tidyOnGrant(ctx context.Context, cfg aws.Config, g breakglass.Grant) {
	name, err := roleName(g.Level.RoleARN)
	if err != nil {
		return // assumed above, so the ARN is a role's
	}
	log := p.opts.Logger.With().Str("account", g.Account).Str("role", name).Str("request_id", g.RequestID).Logger()
	ctx, cancel := context.WithTimeout(ctx, pruneBudget)
	defer cancel()
	if _, err := p.pruneRevokePolicies(ctx, iam.NewFromConfig(cfg), name, log); err != nil {
		log.Warn().Err(err).Msg("could not delete stale break-glass revoke policies after a grant")
	}
}

// sessionName names the role session after the request, so CloudTrail's
// assumed-role ARN points back to it.
func sessionName(requestID string) string {
	s := "breakglass-" + requestID
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// consoleLink exchanges the credentials for a sign-in token at the
// federation endpoint and builds the login URL.
func (p *Provider) consoleLink(ctx context.Context, c *breakglass.Credentials, d time.Duration) (string, error) {
	session, err := json.Marshal(map[string]string{"sessionId": c.AccessKeyID, "sessionKey": c.SecretAccessKey, "sessionToken": c.SessionToken})
	if err != nil {
		return "", fmt.Errorf("sign-in token: %w", err)
	}
	q := url.Values{
		"Action":          {"getSigninToken"},
		"SessionDuration": {fmt.Sprint(int(d / time.Second))},
		"Session":         {string(session)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.FederationURL+"?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("sign-in token: %w", err)
	}
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		// The URL carries the credentials: report the failure without it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("sign-in token: federation endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("sign-in token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign-in token: federation endpoint answered %s", resp.Status)
	}
	var tok struct{ SigninToken string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.SigninToken == "" {
		return "", errors.New("sign-in token: no SigninToken in the federation endpoint's answer")
	}
	login := url.Values{
		"Action":      {"login"},
		"Issuer":      {p.opts.Issuer},
		"Destination": {p.opts.Destination},
		"SigninToken": {tok.SigninToken},
	}
	return p.opts.FederationURL + "?" + login.Encode(), nil
}

// RevokePolicyPrefix starts the name of the inline policies that end a
// requester's sessions (see revokePolicyName). Each revocation adds one and
// then deletes the requester's earlier ones, which it covers; a policy is
// also deleted once no session it denies can still be live (see
// pruneRevokePolicies), so that the role's inline policies stay within
// IAM's quota. Only policies with this prefix are ever deleted.
const RevokePolicyPrefix = "secops-breakglass-revoke-"

// revokePolicyName names the policy that ends requester's sessions issued
// before cutoff: RevokePolicyPrefix, the requester, "-t" and the cut-off
// in Unix seconds (at most 25+64+2+12 characters of IAM's 128). With the
// cut-off in the name, a name stands for one revocation for ever and is
// never overwritten, so whichever replica deletes a policy by its name's
// cut-off cannot delete a later revocation: IAM has no conditional
// delete, and a policy replaced between another replica's read and delete
// would otherwise be lost.
func revokePolicyName(requester string, cutoff time.Time) string {
	return RevokePolicyPrefix + policySafe(requester) + "-t" + strconv.FormatInt(cutoff.Unix(), 10)
}

var revokePolicyNameRe = regexp.MustCompile(`^` + regexp.QuoteMeta(RevokePolicyPrefix) + `(.+)-t([0-9]{1,12})$`)

// NewestRevokePolicy finds, among a role's inline policies (name →
// document), requester's revoke policy with the latest cut-off, and returns
// its name and document; empty when there is none.
func NewestRevokePolicy(policies map[string]string, requester string) (name, doc string) {
	var newest time.Time
	for n, d := range policies {
		who, cutoff, ok := parseRevokePolicyName(n)
		if ok && who == policySafe(requester) && (name == "" || cutoff.After(newest)) {
			name, doc, newest = n, d, cutoff
		}
	}
	return name, doc
}

// parseRevokePolicyName returns the requester part and the cut-off of a
// name revokePolicyName made. Earlier versions named the policy after the
// requester alone and replaced it on each revocation; such names, and any
// other, are not ok.
func parseRevokePolicyName(name string) (requester string, cutoff time.Time, ok bool) {
	m := revokePolicyNameRe.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, false
	}
	secs, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return m[1], time.Unix(secs, 0).UTC(), true
}

// RevokePolicy is the deny-all policy that ends every session of the role
// issued to sourceIdentity before at, as the console's "revoke active
// sessions" does but limited to one requester, so that another responder's
// break-glass session on the same role survives.
func RevokePolicy(sourceIdentity string, at time.Time) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":      "SecOpsBreakGlassRevoke",
			"Effect":   "Deny",
			"Action":   "*",
			"Resource": "*",
			"Condition": map[string]any{
				"DateLessThan": map[string]string{"aws:TokenIssueTime": at.UTC().Format(time.RFC3339)},
				"StringEquals": map[string]string{"aws:SourceIdentity": sourceIdentity},
			},
		}},
	}
	raw, _ := json.Marshal(doc) // maps of strings cannot fail to marshal
	return string(raw)
}

func (p *Provider) denyOlderSessions(ctx context.Context, g breakglass.Grant) error {
	name, err := roleName(g.Level.RoleARN)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", g.RequestID, err)
	}
	if !sourceIdentityRe.MatchString(g.Requester) {
		return fmt.Errorf("revoke %s: requester %q is not a source identity", g.RequestID, g.Requester)
	}
	resources, err := roleResources(g.Level.RoleARN)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", g.RequestID, err)
	}
	actor := g.Actor
	if !sourceIdentityRe.MatchString(actor) {
		actor = g.Requester
	}
	cfg, err := p.writeFor(ctx, g.Account, g, actor, revokeActions, resources)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", g.RequestID, err)
	}
	at := g.Now
	if at.IsZero() {
		at = p.clk.Now()
	}
	// A second's margin: TokenIssueTime has second precision, and a token
	// issued in the same second as the revocation must end too.
	at = at.Truncate(time.Second).Add(time.Second)
	client := iam.NewFromConfig(cfg)
	policy := revokePolicyName(g.Requester, at)
	log := p.opts.Logger.With().Str("account", g.Account).Str("role", name).Str("request_id", g.RequestID).Logger()

	// Make room first. Ending the access matters more than tidying, so
	// the pass has a budget, and a failure is logged and the revocation
	// goes on.
	pctx, cancel := context.WithTimeout(ctx, pruneBudget)
	_, err = p.pruneRevokePolicies(pctx, client, name, log)
	cancel()
	if err != nil {
		log.Warn().Err(err).Msg("could not delete stale break-glass revoke policies before a revocation")
	}
	put := func() error {
		_, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName:       aws.String(name),
			PolicyName:     aws.String(policy),
			PolicyDocument: aws.String(RevokePolicy(g.Requester, at)),
		})
		return err
	}
	err = put()
	if isLimitExceeded(err) {
		// The pass above may have failed, or another replica may have
		// added a policy since: prune once more and retry once.
		res, perr := p.pruneRevokePolicies(ctx, client, name, log)
		if perr != nil {
			log.Warn().Err(perr).Msg("could not delete stale break-glass revoke policies after IAM refused a revocation for size")
		}
		if err = put(); isLimitExceeded(err) {
			return fmt.Errorf("revoke sessions of %s on %s: %s: %w", g.Requester, name, tooManyPolicies(name, res), err)
		}
	}
	if err != nil {
		return fmt.Errorf("revoke sessions of %s on %s: %w", g.Requester, name, err)
	}
	// Only now that the new policy is in place do the requester's earlier
	// ones go: it denies every session they deny, and more.
	pctx, cancel = context.WithTimeout(ctx, pruneBudget)
	defer cancel()
	if err := p.dropSuperseded(pctx, client, name, g.Requester, at, log); err != nil {
		log.Warn().Err(err).Msg("could not delete the requester's earlier break-glass revoke policies; they go when stale")
	}
	return nil
}

// tooManyPolicies explains a revocation IAM refused for the size of the
// role's inline policies, with what the operator can do about it.
func tooManyPolicies(role string, res pruned) string {
	msg := fmt.Sprintf("the break-glass role %s has too many revoke policies (%d named %s*) or other inline policies for IAM's limit of %d characters per role, "+
		"so the sessions were NOT revoked; delete inline policies of %s that are not needed (a revoke policy may go once the role's maximum session has passed since its aws:TokenIssueTime)",
		role, res.remaining, RevokePolicyPrefix, MaxRolePolicySize, role)
	if !res.nextStale.IsZero() {
		msg += fmt.Sprintf(", or wait until %s when the bot can delete one", res.nextStale.UTC().Format(time.RFC3339))
	}
	return msg
}

// roleName is the name of a role ARN, without its path.
func roleName(arn string) (string, error) {
	p, err := awsarn.ParsePrincipal(arn)
	if err != nil || p.Kind != awsarn.KindRole {
		return "", fmt.Errorf("%q is not a role ARN", arn)
	}
	return p.Name, nil
}

var policyUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

func policySafe(s string) string { return policyUnsafe.ReplaceAllString(s, "_") }

// MaxSession is the role's maximum session duration (GetRole).
func (p *Provider) MaxSession(ctx context.Context, account string, l breakglass.Level) (time.Duration, error) {
	if l.RoleARN == "" {
		return 0, nil // permission sets carry their own session duration
	}
	name, err := roleName(l.RoleARN)
	if err != nil {
		return 0, err
	}
	cfg, err := p.src.For(ctx, account)
	if err != nil {
		return 0, fmt.Errorf("role %s: credentials for %s: %w", name, account, err)
	}
	out, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return 0, fmt.Errorf("get role %s: %w", name, err)
	}
	if out.Role == nil || out.Role.MaxSessionDuration == nil {
		return time.Hour, nil // AWS's default
	}
	return time.Duration(*out.Role.MaxSessionDuration) * time.Second, nil
}

func (p *Provider) icConfig(ctx context.Context, account string) (aws.Config, error) {
	acct := p.icAccount(account)
	cfg, err := p.src.For(ctx, acct)
	if err != nil {
		return aws.Config{}, fmt.Errorf("identity center credentials (%s): %w", acct, err)
	}
	return cfg, nil
}

// userID finds the Identity Center user with the email address.
func (p *Provider) userID(ctx context.Context, cfg aws.Config, g breakglass.Grant) (string, error) {
	if g.Email == "" {
		return "", errors.New("the requester has no email address to find their Identity Center user by")
	}
	out, err := identitystore.NewFromConfig(cfg).GetUserId(ctx, &identitystore.GetUserIdInput{
		IdentityStoreId: aws.String(g.Policy.IdentityStoreID),
		AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
			AttributePath: aws.String("emails.value"), AttributeValue: document.NewLazyDocument(g.Email),
		}},
	})
	if err != nil {
		return "", fmt.Errorf("find the Identity Center user of %s: %w", g.Email, err)
	}
	return aws.ToString(out.UserId), nil
}

// icAccount is the account whose configuration reaches Identity Center.
func (p *Provider) icAccount(account string) string {
	if p.opts.IdentityCenterAccount != "" {
		return p.opts.IdentityCenterAccount
	}
	return account
}

// assignmentResources are what an assignment acts on, as IAM names them:
// the instance, the permission set and the target account.
func assignmentResources(g breakglass.Grant) []string {
	part := "aws"
	if a, err := awsarn.Parse(g.Policy.InstanceARN); err == nil && a.Partition != "" {
		part = a.Partition
	}
	return []string{g.Policy.InstanceARN, g.Level.PermissionSetARN, "arn:" + part + ":sso:::account/" + g.Account}
}

func (p *Provider) assign(ctx context.Context, g breakglass.Grant) (breakglass.Access, error) {
	cfg, err := p.icConfig(ctx, g.Account)
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assign %s: %w", g.Level.Name, err)
	}
	uid, err := p.userID(ctx, cfg, g)
	if err != nil {
		return breakglass.Access{}, fmt.Errorf("assign %s: %w", g.Level.Name, err)
	}
	wcfg, err := p.writeFor(ctx, p.icAccount(g.Account), g, g.Actor, assignActions, assignmentResources(g))
	if err != nil {
		return breakglass.Access{PrincipalID: uid}, fmt.Errorf("assign %s: %w", g.Level.Name, err)
	}
	sso := ssoadmin.NewFromConfig(wcfg)
	out, err := sso.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn:      aws.String(g.Policy.InstanceARN),
		PermissionSetArn: aws.String(g.Level.PermissionSetARN),
		PrincipalId:      aws.String(uid),
		PrincipalType:    ssotypes.PrincipalTypeUser,
		TargetId:         aws.String(g.Account),
		TargetType:       ssotypes.TargetTypeAwsAccount,
	})
	// The principal is returned even on failure, so that the caller's
	// cleanup can delete whatever half-happened.
	access := breakglass.Access{PrincipalID: uid, ConsoleURL: p.opts.PortalURL}
	if err != nil {
		return access, fmt.Errorf("assign %s to %s in %s: %w", g.Level.Name, uid, g.Account, err)
	}
	st := out.AccountAssignmentCreationStatus
	err = p.wait(ctx, st, func(ctx context.Context, id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		o, err := sso.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(g.Policy.InstanceARN), AccountAssignmentCreationRequestId: id,
		})
		if err != nil {
			return nil, err
		}
		return o.AccountAssignmentCreationStatus, nil
	})
	if err != nil {
		return access, fmt.Errorf("assign %s to %s in %s: %w", g.Level.Name, uid, g.Account, err)
	}
	return access, nil
}

func (p *Provider) unassign(ctx context.Context, g breakglass.Grant) error {
	cfg, err := p.icConfig(ctx, g.Account)
	if err != nil {
		return fmt.Errorf("unassign %s: %w", g.Level.Name, err)
	}
	uid := g.PrincipalID
	if uid == "" {
		if uid, err = p.userID(ctx, cfg, g); err != nil {
			return fmt.Errorf("unassign %s: %w", g.Level.Name, err)
		}
	}
	wcfg, err := p.writeFor(ctx, p.icAccount(g.Account), g, g.Actor, unassignActions, assignmentResources(g))
	if err != nil {
		return fmt.Errorf("unassign %s: %w", g.Level.Name, err)
	}
	sso := ssoadmin.NewFromConfig(wcfg)
	out, err := sso.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
		InstanceArn:      aws.String(g.Policy.InstanceARN),
		PermissionSetArn: aws.String(g.Level.PermissionSetARN),
		PrincipalId:      aws.String(uid),
		PrincipalType:    ssotypes.PrincipalTypeUser,
		TargetId:         aws.String(g.Account),
		TargetType:       ssotypes.TargetTypeAwsAccount,
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("unassign %s from %s in %s: %w", g.Level.Name, uid, g.Account, err)
	}
	err = p.wait(ctx, out.AccountAssignmentDeletionStatus, func(ctx context.Context, id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		o, err := sso.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: aws.String(g.Policy.InstanceARN), AccountAssignmentDeletionRequestId: id,
		})
		if err != nil {
			return nil, err
		}
		return o.AccountAssignmentDeletionStatus, nil
	})
	if err != nil {
		return fmt.Errorf("unassign %s from %s in %s: %w", g.Level.Name, uid, g.Account, err)
	}
	return nil
}

// wait polls an asynchronous assignment operation until it succeeds,
// fails or the timeout passes.
func (p *Provider) wait(ctx context.Context, st *ssotypes.AccountAssignmentOperationStatus,
	describe func(context.Context, *string) (*ssotypes.AccountAssignmentOperationStatus, error)) error {
	if st == nil {
		return errors.New("no operation status in the answer")
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.PollTimeout)
	defer cancel()
	for {
		switch st.Status {
		case ssotypes.StatusValuesSucceeded:
			return nil
		case ssotypes.StatusValuesFailed:
			return fmt.Errorf("operation %s failed: %s", aws.ToString(st.RequestId), aws.ToString(st.FailureReason))
		}
		if err := p.opts.Sleep(ctx, p.opts.PollInterval); err != nil {
			return fmt.Errorf("operation %s still %s: %w", aws.ToString(st.RequestId), st.Status, err)
		}
		next, err := describe(ctx, st.RequestId)
		if err != nil {
			return fmt.Errorf("operation %s status: %w", aws.ToString(st.RequestId), err)
		}
		if next == nil {
			return fmt.Errorf("operation %s: no status in the answer", aws.ToString(st.RequestId))
		}
		st = next
	}
}

// Assigned lists the users a level's permission set is assigned to in the
// account.
func (p *Provider) Assigned(ctx context.Context, account string, pol breakglass.AccountPolicy, l breakglass.Level) ([]string, error) {
	cfg, err := p.icConfig(ctx, account)
	if err != nil {
		return nil, err
	}
	pager := ssoadmin.NewListAccountAssignmentsPaginator(ssoadmin.NewFromConfig(cfg), &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(pol.InstanceARN), AccountId: aws.String(account), PermissionSetArn: aws.String(l.PermissionSetARN),
	})
	var out []string
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list assignments of %s in %s: %w", l.Name, account, err)
		}
		for _, a := range page.AccountAssignments {
			if a.PrincipalType == ssotypes.PrincipalTypeUser {
				out = append(out, aws.ToString(a.PrincipalId))
			}
		}
	}
	return out, nil
}
