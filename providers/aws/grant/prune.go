package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"
)

// Revoke policies pile up, one per requester, on each break-glass role,
// and IAM caps a role's inline policies at 10,240 characters in all: a few
// dozen responders in, the next revocation would fail. A revoke policy
// matters only while a session issued before its cut-off can still be
// valid, that is until the cut-off plus the longest session the role
// issues; after that it is deleted.

// maxAnySession is the longest session STS issues for any role
// (AssumeRole's DurationSeconds cannot exceed 12 hours). It bounds the
// life of a revoke policy when the role's own maximum cannot be read.
const maxAnySession = 12 * time.Hour

// staleMargin is added to a revoke policy's life for clock skew between
// the bot and AWS, and for IAM's propagation of the policy.
const staleMargin = 5 * time.Minute

// pruneBudget bounds the tidying done on a grant or before a revocation,
// so that a slow or crowded IAM delays neither giving access nor ending
// it. Whatever is left is done on the next pass.
const pruneBudget = 10 * time.Second

// MaxRolePolicySize is IAM's quota on the size of a role's inline policies
// taken together, in characters other than white space.
const MaxRolePolicySize = 10240

// pruned is what one pruning pass found.
type pruned struct {
	deleted   int       // stale revoke policies deleted
	remaining int       // revoke policies left on the role, keep included
	nextStale time.Time // when the first remaining one may go; zero when unknown
}

// pruneRevokePolicies deletes the role's revoke policies whose cut-off is
// older than the role's maximum session (plus a margin) at now: every
// session they could deny has expired. Only names with RevokePolicyPrefix
// are considered. The cut-off is read from the name (see revokePolicyName),
// so nothing a revocation writes meanwhile, on any replica, can be deleted
// by mistake. A policy named the earlier way (after the requester alone,
// no longer written) is dated by its document, and kept and logged when
// that cannot be read. It goes on after a failure and returns what it did
// with the failures joined, since one unreadable policy should not stop
// the others from being deleted.
func (p *Provider) pruneRevokePolicies(ctx context.Context, client *iam.Client, role string, log zerolog.Logger) (pruned, error) {
	var res pruned
	names, err := revokePolicyNames(ctx, client, role)
	if err != nil || len(names) == 0 {
		return res, err
	}
	life := p.revokePolicyLife(ctx, client, role, log)
	now := p.clk.Now()
	var errs []error
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			res.remaining += len(names) - i
			errs = append(errs, fmt.Errorf("%d revoke policies of %s not looked at: %w", len(names)-i, role, err))
			break
		}
		if err := p.pruneOne(ctx, client, role, name, now, life, &res, log.With().Str("policy", name).Logger()); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// revokePolicyNames lists the role's inline policies named with
// RevokePolicyPrefix.
func revokePolicyNames(ctx context.Context, client *iam.Client, role string) ([]string, error) {
	var names []string
	pager := iam.NewListRolePoliciesPaginator(client, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list inline policies of %s: %w", role, err)
		}
		for _, n := range page.PolicyNames {
			if strings.HasPrefix(n, RevokePolicyPrefix) { // not ours otherwise, whatever it says
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// pruneOne deletes one revoke policy when stale, dated by its name or, for
// a policy named the earlier way, by its document.
func (p *Provider) pruneOne(ctx context.Context, client *iam.Client, role, name string, now time.Time, life time.Duration, res *pruned, log zerolog.Logger) error {
	_, cutoff, ok := parseRevokePolicyName(name)
	if !ok {
		out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
		if isNoSuchEntity(err) {
			return nil // deleted meanwhile, by another replica perhaps
		}
		if err != nil {
			res.remaining++
			return fmt.Errorf("read %s of %s: %w", name, role, err)
		}
		if cutoff, err = revokeCutoff(aws.ToString(out.PolicyDocument)); err != nil {
			log.Warn().Err(err).Msg("a break-glass revoke policy has no cut-off that can be read; it is kept and needs a look by hand")
			res.remaining++
			return nil
		}
	}
	goes := cutoff.Add(life + staleMargin)
	if now.Before(goes) {
		res.remaining++
		if res.nextStale.IsZero() || goes.Before(res.nextStale) {
			res.nextStale = goes
		}
		return nil
	}
	if err := deleteRolePolicy(ctx, client, role, name); err != nil {
		res.remaining++
		return err
	}
	res.deleted++
	log.Info().Time("cutoff", cutoff).Dur("max_session", life).Msg("deleted a break-glass revoke policy: every session it denied has expired")
	return nil
}

// dropSuperseded deletes requester's revoke policies with a cut-off before
// at, and the one named the earlier way: once the policy with cut-off at is
// in place it denies every session they deny. Deleting by name is safe on
// any replica: a revocation never rewrites an existing name.
func (p *Provider) dropSuperseded(ctx context.Context, client *iam.Client, role, requester string, at time.Time, log zerolog.Logger) error {
	names, err := revokePolicyNames(ctx, client, role)
	if err != nil {
		return err
	}
	own := policySafe(requester)
	var errs []error
	for _, name := range names {
		who, cutoff, ok := parseRevokePolicyName(name)
		superseded := ok && who == own && cutoff.Before(at) || !ok && name == RevokePolicyPrefix+own
		if !superseded {
			continue
		}
		if err := deleteRolePolicy(ctx, client, role, name); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info().Str("policy", name).Msg("deleted a break-glass revoke policy that a later revocation of the same requester covers")
	}
	return errors.Join(errs...)
}

func deleteRolePolicy(ctx context.Context, client *iam.Client, role, name string) error {
	_, err := client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
	if err != nil && !isNoSuchEntity(err) {
		return fmt.Errorf("delete %s of %s: %w", name, role, err)
	}
	return nil
}

// revokePolicyLife is how long after its cut-off a revoke policy still
// denies a live session: the role's maximum session. Role chaining caps a
// session at an hour, which the role's maximum (at least an hour) covers.
// When the role cannot be read the longest session STS ever issues is
// assumed, which only keeps policies longer. (A maximum lowered after a
// longer session was issued would make the bound too short for that
// session; the bot never asks for more than the window, capped by the
// role's maximum when it is granted.)
func (p *Provider) revokePolicyLife(ctx context.Context, client *iam.Client, role string, log zerolog.Logger) time.Duration {
	out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		log.Warn().Err(err).Dur("assumed", maxAnySession).Msg("cannot read the break-glass role's maximum session; assuming the longest STS issues")
		return maxAnySession
	}
	if out.Role == nil || out.Role.MaxSessionDuration == nil || *out.Role.MaxSessionDuration <= 0 {
		return maxAnySession
	}
	return time.Duration(*out.Role.MaxSessionDuration) * time.Second
}

// revokeCutoff reads the cut-off of a revoke policy from the document
// GetRolePolicy returns. IAM sends the document percent-encoded and the SDK
// passes it on as is. When several statements carry a cut-off the latest
// is taken, as it keeps the policy longest.
func revokeCutoff(raw string) (time.Time, error) {
	doc := raw
	if !strings.HasPrefix(strings.TrimSpace(raw), "{") {
		dec, err := url.QueryUnescape(raw)
		if err != nil {
			return time.Time{}, fmt.Errorf("decode the policy document: %w", err)
		}
		doc = dec
	}
	var pol struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &pol); err != nil {
		return time.Time{}, fmt.Errorf("parse the policy document: %w", err)
	}
	// Statement is a list, or a single statement.
	type statement struct {
		Condition map[string]map[string]json.RawMessage
	}
	var stmts []statement
	if err := json.Unmarshal(pol.Statement, &stmts); err != nil {
		var one statement
		if err := json.Unmarshal(pol.Statement, &one); err != nil {
			return time.Time{}, fmt.Errorf("parse the policy's statements: %w", err)
		}
		stmts = append(stmts, one)
	}
	var latest time.Time
	for _, st := range stmts {
		for op, keys := range st.Condition {
			if !strings.EqualFold(op, "DateLessThan") {
				continue
			}
			for key, v := range keys {
				if !strings.EqualFold(key, "aws:TokenIssueTime") {
					continue
				}
				var vals []string
				var s string
				if err := json.Unmarshal(v, &s); err == nil {
					vals = []string{s}
				} else if err := json.Unmarshal(v, &vals); err != nil {
					return time.Time{}, fmt.Errorf("aws:TokenIssueTime is %s, not a date", v)
				}
				for _, s := range vals {
					t, err := time.Parse(time.RFC3339, s)
					if err != nil {
						return time.Time{}, fmt.Errorf("aws:TokenIssueTime %q: %w", s, err)
					}
					if t.After(latest) {
						latest = t
					}
				}
			}
		}
	}
	if latest.IsZero() {
		return time.Time{}, errors.New("no DateLessThan aws:TokenIssueTime condition")
	}
	return latest, nil
}

func isNoSuchEntity(err error) bool { return apiCode(err) == "NoSuchEntity" }

func isLimitExceeded(err error) bool { return apiCode(err) == "LimitExceeded" }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
