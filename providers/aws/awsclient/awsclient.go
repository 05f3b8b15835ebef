// Package awsclient gives the bot an AWS configuration for each member
// account: it assumes the account's member role with STS and keeps the
// session until shortly before it expires, so every reader acts inside the
// account it concerns. It also lists the organization's accounts, which
// decide whether a share target is one of ours.
//
// Reading and writing are split. The member role (For) only reads. A
// change (a confirmed containment, its undo, a break-glass grant or
// revocation) assumes the member write role afresh for that one change
// (ForAction), passing an inline session policy that allows exactly the
// change's actions on exactly its resources, the confirming user as
// SourceIdentity and the action's ID as a session tag. Whatever the write
// role allows, such a session can do nothing else, so neither a bug in the
// bot nor someone holding a leaked session can turn it against other
// resources.
//
// Every client made from these configurations draws its retries from one
// budget (the SDK's retry token bucket), shared by the whole process: in a
// long throttling storm the bot as a whole stops retrying and fails fast,
// instead of each of its many short-lived clients spending a fresh budget
// of its own, and starts retrying again as calls succeed.
//
// Endpoints are never overridden here: the base configuration (loaded by
// the caller, honouring AWS_ENDPOINT_URL*) decides where calls go.
package awsclient

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// ErrAssumeRole is wrapped by every failure to assume a member role.
var ErrAssumeRole = errors.New("role cannot be assumed")

// RefreshBefore is how long before expiry a member-role session is renewed,
// so no call starts with credentials about to lapse.
const RefreshBefore = 5 * time.Minute

const (
	defaultSessionName = "secops-bot"
	defaultDuration    = time.Hour
	defaultOrgTTL      = 15 * time.Minute
	// Organizations is a global service served from us-east-1.
	organizationsRegion = "us-east-1"
)

// Options configures how member accounts are reached.
type Options struct {
	// MemberRoleName is the role assumed in every member account
	// (arn:aws:iam::<account>:role/<name>). Empty, and without RoleARNs,
	// the base configuration is used for every account.
	MemberRoleName string
	// RoleARNs overrides the role per account (accounts[].role_arn).
	RoleARNs map[string]string
	// MemberWriteRoleName is the role assumed, one session per change, to
	// change anything in a member account. Empty, the member role serves
	// for changes too, as before the roles were split (Warnings says so):
	// each change still runs under its session policy, but without
	// SourceIdentity and session tags, which the member role's trust
	// policy may not allow.
	MemberWriteRoleName string
	// WriteRoleARNs overrides the write role per account.
	WriteRoleARNs map[string]string
	// ExternalID is sent with every AssumeRole when set.
	ExternalID string
	// SessionName names the role sessions (CloudTrail shows it); the
	// default is "secops-bot".
	SessionName string
	// Duration of each role session; one hour by default.
	Duration time.Duration
	// OrgTTL is how long the organization's account list is kept; 15
	// minutes by default.
	OrgTTL time.Duration
	// Clock decides when sessions and the account list are stale.
	Clock clock.Clock
	// RetryBudget is the retry quota shared by every client made from the
	// configurations handed out, in the SDK's retry tokens: a retry after
	// throttling costs 5, a retry after another transient error 14, a
	// retry that succeeds gives its cost back and so does an operation that
	// succeeds at once (1). An operation that finds the budget spent fails
	// with its last error instead of retrying. Zero means 500, what the SDK
	// gives each client of its own.
	RetryBudget uint
	// Retry adjusts the shared retryer (attempts, backoff) after the
	// defaults; nil keeps the SDK's standard settings.
	Retry func(*retry.StandardOptions)
}

// Clients hands out per-account AWS configurations.
type Clients struct {
	base aws.Config
	opts Options
	clk  clock.Clock

	mu    sync.Mutex
	roles map[string]*roleCredentials // by role ARN

	orgMu sync.Mutex
	org   map[string]string
	orgAt time.Time
}

var (
	accountRe = regexp.MustCompile(`^\d{12}$`)
	roleARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$`)
)

// New checks the options and returns the clients. The base configuration
// holds the bot's own credentials, region and endpoint; the clients share
// one retry budget (see RetryBudget) unless it names a Retryer.
func New(_ context.Context, base aws.Config, opts Options) (*Clients, error) {
	var problems []string
	if strings.ContainsAny(opts.MemberRoleName, ": ") {
		problems = append(problems, fmt.Sprintf("member role name %q must be a role name, not an ARN", opts.MemberRoleName))
	}
	if strings.ContainsAny(opts.MemberWriteRoleName, ":/ ") {
		problems = append(problems, fmt.Sprintf("member write role name %q must be a role name, not an ARN", opts.MemberWriteRoleName))
	}
	for _, roles := range []map[string]string{opts.RoleARNs, opts.WriteRoleARNs} {
		for _, acct := range sortedKeys(roles) {
			arn := roles[acct]
			m := roleARNRe.FindStringSubmatch(arn)
			switch {
			case !accountRe.MatchString(acct):
				problems = append(problems, fmt.Sprintf("account %q is not a 12-digit account ID", acct))
			case m == nil:
				problems = append(problems, fmt.Sprintf("role ARN %q of account %s is not an IAM role ARN", arn, acct))
			case m[1] != acct:
				problems = append(problems, fmt.Sprintf("role ARN %q is in account %s, not %s", arn, m[1], acct))
			}
		}
	}
	if opts.Duration != 0 && (opts.Duration < 15*time.Minute || opts.Duration > 12*time.Hour) {
		problems = append(problems, fmt.Sprintf("session duration %s is outside 15m to 12h", opts.Duration))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("aws clients: %s", strings.Join(problems, "; "))
	}
	if opts.SessionName == "" {
		opts.SessionName = defaultSessionName
	}
	if opts.Duration == 0 {
		opts.Duration = defaultDuration
	}
	if opts.OrgTTL <= 0 {
		opts.OrgTTL = defaultOrgTTL
	}
	if opts.RetryBudget == 0 {
		opts.RetryBudget = retry.DefaultRetryRateTokens
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	base = base.Copy()
	if base.Retryer == nil {
		base.Retryer = sharedRetryer(base, opts)
	}
	return &Clients{base: base, opts: opts, clk: clk, roles: map[string]*roleCredentials{}}, nil
}

// sharedRetryer returns one retryer, with one retry budget, for every
// client made from base. Without it each client the SDK builds gets a
// budget of its own, and since readers build a client per call, the
// budget would never run out however long AWS throttles. The retry mode
// and maximum attempts of the base configuration (AWS_RETRY_MODE,
// AWS_MAX_ATTEMPTS) still apply; a base configuration with a Retryer of
// its own keeps it.
func sharedRetryer(base aws.Config, opts Options) func() aws.Retryer {
	limiter := ratelimit.NewTokenRateLimit(opts.RetryBudget)
	standard := func(o *retry.StandardOptions) {
		o.RateLimiter = limiter
		if base.RetryMaxAttempts > 0 {
			o.MaxAttempts = base.RetryMaxAttempts
		}
		if opts.Retry != nil {
			opts.Retry(o)
		}
	}
	var r aws.Retryer
	if base.RetryMode == aws.RetryModeAdaptive {
		r = retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, standard)
		})
	} else {
		r = retry.NewStandard(standard)
	}
	return func() aws.Retryer { return r }
}

// RoleARN returns the role assumed for an account, or "" when the base
// credentials are used.
func (c *Clients) RoleARN(accountID string) string {
	if arn := c.opts.RoleARNs[accountID]; arn != "" {
		return arn
	}
	if c.opts.MemberRoleName == "" {
		return ""
	}
	return awsarn.IAMRole(awsarn.PartitionOf(c.base.Region), accountID, "", c.opts.MemberRoleName).String()
}

// WriteRoleARN returns the role assumed for changes in an account: the
// account's write role, else the member write role by name, else the
// member role itself ("" when the base credentials are used).
func (c *Clients) WriteRoleARN(accountID string) string {
	if arn := c.opts.WriteRoleARNs[accountID]; arn != "" {
		return arn
	}
	if c.opts.MemberWriteRoleName == "" {
		return c.RoleARN(accountID)
	}
	return awsarn.IAMRole(awsarn.PartitionOf(c.base.Region), accountID, "", c.opts.MemberWriteRoleName).String()
}

// Warnings says what weakens the split between reading and writing in
// this configuration, for the operator to fix.
func (c *Clients) Warnings() []string {
	var out []string
	if c.opts.MemberRoleName == "" && len(c.opts.RoleARNs) == 0 {
		out = append(out, "no member role is configured: the bot reads and changes member accounts with its own credentials, "+
			"so changes cannot be limited by a session policy; set aws.member_role_name and deploy deploy/cloudformation/member-role.yaml")
	} else if c.opts.MemberWriteRoleName == "" && len(c.opts.WriteRoleARNs) == 0 {
		out = append(out, "no member write role is configured: changes use the member role "+c.opts.MemberRoleName+
			", which must then allow them, and carry no SourceIdentity or session tag; deploy the write role of "+
			"deploy/cloudformation/member-role.yaml and set aws.member_write_role_name so the member role can be read-only")
	}
	return out
}

// For returns the configuration to read in an account. It assumes the
// member role now (or reuses the cached session) so a role that cannot be
// assumed is reported here, as ErrAssumeRole, rather than as a confusing
// failure of the first call made with it.
func (c *Clients) For(ctx context.Context, accountID string) (aws.Config, error) {
	if !accountRe.MatchString(accountID) {
		return aws.Config{}, fmt.Errorf("account %q is not a 12-digit account ID", accountID)
	}
	arn := c.RoleARN(accountID)
	if arn == "" {
		return c.base.Copy(), nil
	}
	c.mu.Lock()
	rc := c.roles[arn]
	if rc == nil {
		rc = &roleCredentials{c: c, arn: arn}
		c.roles[arn] = rc
	}
	c.mu.Unlock()
	if _, err := rc.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("account %s: %w", accountID, err)
	}
	cfg := c.base.Copy()
	cfg.Credentials = rc
	return cfg, nil
}

// roleCredentials is a member-role session renewed RefreshBefore its
// expiry, judged by the injected clock.
type roleCredentials struct {
	c   *Clients
	arn string

	mu    sync.Mutex
	creds aws.Credentials
}

// Retrieve returns the cached session or assumes the role again.
func (r *roleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.creds.HasKeys() && r.c.clk.Now().Before(r.creds.Expires.Add(-RefreshBefore)) {
		return r.creds, nil
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(r.arn),
		RoleSessionName: aws.String(r.c.opts.SessionName),
		DurationSeconds: aws.Int32(int32(r.c.opts.Duration / time.Second)),
	}
	if r.c.opts.ExternalID != "" {
		in.ExternalId = aws.String(r.c.opts.ExternalID)
	}
	out, err := sts.NewFromConfig(r.c.base).AssumeRole(ctx, in)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("assume role %s: %w: %w", r.arn, ErrAssumeRole, err)
	}
	if out.Credentials == nil {
		return aws.Credentials{}, fmt.Errorf("assume role %s: %w: no credentials in the reply", r.arn, ErrAssumeRole)
	}
	r.creds = aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
		Source:          "secops-bot member role " + r.arn,
		CanExpire:       true,
		Expires:         aws.ToTime(out.Credentials.Expiration),
	}
	return r.creds, nil
}

// OrgAccounts returns the organization's accounts (ID to name), read with
// the base credentials and kept for OrgTTL. Concurrent callers share one
// listing.
func (c *Clients) OrgAccounts(ctx context.Context) (map[string]string, error) {
	c.orgMu.Lock()
	defer c.orgMu.Unlock()
	if c.org != nil && c.clk.Now().Before(c.orgAt.Add(c.opts.OrgTTL)) {
		return cloneMap(c.org), nil
	}
	client := organizations.NewFromConfig(c.base, func(o *organizations.Options) { o.Region = organizationsRegion })
	accounts := map[string]string{}
	p := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list organization accounts: %w", err)
		}
		for _, a := range page.Accounts {
			accounts[aws.ToString(a.Id)] = aws.ToString(a.Name)
		}
	}
	c.org, c.orgAt = accounts, c.clk.Now()
	return cloneMap(accounts), nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
