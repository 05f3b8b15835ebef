// Package iampolicy writes the IAM policies the bot needs, derived from the
// AWS calls the providers make: one for the bot's own role (the event queue,
// the CloudTrail log objects, the organisation's account list, assuming the
// member roles, tagging itself for the canary), one for the read-only role
// it assumes in every member account (reading resource state, containment
// previews, backfill, its own canary) and one for the write role it assumes
// there for each confirmed change (containment and its undo, break-glass
// grants and revocations), each session of which it limits to that change
// with a session policy (providers/aws/awsclient).
// The features switched on decide which statements appear, so a deployment
// that never contains anything grants no write access. Both member roles
// deny every change to the bot's own roles and users and to the trust of
// the break-glass roles, so no session of them can widen its own access.
// Without a write role configured, the member role carries the write
// statements too, as before the roles were split.
//
// A test scans the providers' source for every AWS call and fails when one
// is not covered, and another compares the CloudFormation templates under
// deploy/ with these documents, so neither can drift from the code.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	awscanary "github.com/secops-bot/secops-bot/providers/aws/canary"
	"github.com/secops-bot/secops-bot/providers/aws/contain"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// Version is the IAM policy language version every document uses.
const Version = "2012-10-17"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement. Action and Resource are always lists, which
// IAM accepts and which keeps the JSON stable for diffs.
type Statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
	// Condition is operator → condition key → values; most statements
	// have none.
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// Actions returns every action the document allows, sorted and without
// duplicates; Deny statements are left out.
func (d Document) Actions() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range d.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// JSON is the document indented for people, with a trailing newline.
func (d Document) JSON() []byte {
	raw, _ := json.MarshalIndent(d, "", "  ") // strings and slices only: cannot fail
	return append(raw, '\n')
}

// Options are the features a deployment uses and the resources they touch.
// An empty resource name widens the statement to every resource of its kind
// (documented per field), so a policy can be written before every name is
// known.
type Options struct {
	// SQS: events arrive on an SQS queue (EventBridge, or S3 notifications
	// of new CloudTrail log files, which the bot then reads).
	SQS bool
	// QueueARN is the queue's ARN; any queue when empty.
	QueueARN string
	// TrailBucket is the bucket CloudTrail writes log files to; any
	// bucket's AWSLogs/ objects when empty.
	TrailBucket string
	// KMSKeyARN is the key that encrypts the log files or the queue; no
	// kms:Decrypt statement when empty.
	KMSKeyARN string

	// StateReads: the bot reads resource state in member accounts to
	// confirm exposures and record before and after, what the resource
	// holds and who read it while exposed (aws.enabled).
	StateReads bool
	// AccessLogBuckets are the buckets of S3 server access logs the bot
	// reads to tell who read an exposed bucket (aws.access_log_buckets);
	// none when empty.
	AccessLogBuckets []string
	// Containment: responders run the containment catalogue.
	Containment bool
	// BreakGlassAssumeRole and BreakGlassIdentityCenter: break-glass
	// access is granted in either mode.
	BreakGlassAssumeRole     bool
	BreakGlassIdentityCenter bool
	// OrgAccounts: the organisation's accounts are listed so that shares
	// inside it are not unknown.
	OrgAccounts bool
	// Backfill: history is read back from CloudTrail LookupEvents.
	Backfill bool
	// Canary: the bot tags its own role (or user) on a schedule and waits
	// for the event (canary.enabled).
	Canary bool
	// CanaryMembers: the member roles tag themselves as well
	// (canary.accounts).
	CanaryMembers bool
	// BotARN is the bot's own role or user, the only principal the
	// canary needs to tag. When empty (the name is often only known once
	// deployed) any role or user of the account may be tagged, with the
	// canary's tag only.
	BotARN string

	// MemberRoleName is the role assumed in every member account, and
	// MemberRoleARNs are per-account overrides. With neither, the bot
	// uses its own credentials everywhere, so the member statements are
	// added to the bot's policy.
	MemberRoleName string
	MemberRoleARNs []string
	// MemberWriteRoleName is the role assumed for each change in a member
	// account, and MemberWriteRoleARNs are per-account overrides. With
	// neither, the member role makes the changes too and carries their
	// statements; with either, the member role only reads.
	MemberWriteRoleName string
	MemberWriteRoleARNs []string
	// BreakGlassRoleARNs are the roles break-glass sessions assume; any
	// role when empty.
	BreakGlassRoleARNs []string

	// AuditBucket is the bucket the audit log's head is anchored in
	// (audit.s3_bucket), AuditPrefix the key prefix there; no statement
	// when empty.
	AuditBucket string
	AuditPrefix string
}

// Statement IDs, stable so that people and the CloudFormation templates can
// refer to them.
const (
	SidEventQueue         = "EventQueue"
	SidTrailLogs          = "TrailLogObjects"
	SidTrailKey           = "DecryptTrailLogs"
	SidOrgAccounts        = "ListOrganizationAccounts"
	SidAssumeMember       = "AssumeMemberRoles"
	SidAssumeMemberWrite  = "AssumeMemberWriteRoles"
	SidStateReads         = "ReadResourceState"
	SidAccessRecords      = "ReadAccessRecords"
	SidAccessLogs         = "ReadAccessLogs"
	SidContainmentReads   = "ContainmentReads"
	SidContainment        = "Containment"
	SidBackfill           = "LookupEvents"
	SidBreakGlassReadRole = "BreakGlassReadRole"
	SidBreakGlassRole     = "BreakGlassAssumeRole"
	SidBreakGlassRevoke   = "BreakGlassRevokeSessions"
	SidIdentityCenterRead = "BreakGlassIdentityCenterReads"
	SidIdentityCenter     = "BreakGlassIdentityCenter"
	SidCanaryTag          = "CanaryTagSelf"
	SidCanaryIdentity     = "CanaryCallerIdentity"
	SidDenyBotChanges     = "DenyChangesToTheBot"
	SidDenyBotTags        = "DenyOtherTagsOnTheBot"
	SidDenyTrustChanges   = "DenyBreakGlassTrustChanges"
	SidAuditAnchors       = "AuditAnchorObjects"
	SidAuditBucket        = "AuditAnchorBucket"
)

// Action lists per statement, exactly what the providers call: the
// describe calls return tags with the resource, so no tag-listing action is
// needed, and the queue is named by its URL in the configuration, so
// neither GetQueueUrl nor GetQueueAttributes is. Batch SQS calls (DeleteMessageBatch,
// ChangeMessageVisibilityBatch) have no IAM action of their own: they are
// authorised by the single-message actions listed here.
var (
	queueActions = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}

	// What a resource holds is read with its state: a bucket's object
	// listing (keys and sizes, never the objects), default encryption and
	// Macie's findings; a snapshot's key, its policy and grants.
	stateReadActions = []string{
		"s3:GetAccountPublicAccessBlock", "s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus",
		"s3:GetBucketPublicAccessBlock", "s3:GetBucketTagging", "s3:GetEncryptionConfiguration", "s3:ListBucket",
		"macie2:GetFindings", "macie2:GetMacieSession", "macie2:ListFindings",
		"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants",
		"rds:DescribeDBClusterSnapshotAttributes", "rds:DescribeDBClusterSnapshots",
		"rds:DescribeDBSnapshotAttributes", "rds:DescribeDBSnapshots",
		"ec2:DescribeImageAttribute", "ec2:DescribeImages", "ec2:DescribeSnapshotAttribute",
		"ec2:DescribeSnapshots",
		"iam:GetAccessKeyLastUsed", "iam:GetRole", "iam:GetUser", "iam:ListAccessKeys",
		"iam:ListRoleTags", "iam:ListUserTags",
	}

	// Who read an exposed resource: the trails that record a bucket's
	// reads and whether they log, the bucket's access logging, and a
	// snapshot key's KMS events in event history.
	accessRecordActions = []string{
		"cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus", "cloudtrail:LookupEvents",
		"s3:GetBucketLogging",
	}

	// A break-glass session carries the requester as SourceIdentity and
	// the request in session tags, which need their own STS actions.
	breakGlassAssumeActions = []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}
	// Revocation puts a deny policy on the role; GetRole reads the role's
	// maximum session length. Revoke policies no live session can need
	// any more are listed, read and deleted, or they would fill the
	// role's inline policy quota and stop the next revocation.
	breakGlassRevokeActions = []string{"iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:PutRolePolicy"}

	// The canary tags the principal it runs as: a role, or an IAM user.
	// sts:GetCallerIdentity says which; AWS allows it without a grant, and
	// it is listed so that the policy names every call.
	canaryTagActions      = []string{"iam:TagRole", "iam:TagUser"}
	canaryIdentityActions = []string{"sts:GetCallerIdentity"}

	// Identity Center: the user is found and the assignments listed with
	// the read role; assignments are made and waited on with the write
	// role.
	identityCenterReadActions = []string{"identitystore:GetUserId", "sso:ListAccountAssignments"}
	identityCenterActions     = []string{
		"sso:CreateAccountAssignment", "sso:DeleteAccountAssignment",
		"sso:DescribeAccountAssignmentCreationStatus", "sso:DescribeAccountAssignmentDeletionStatus",
	}

	// botChangeActions are every IAM change to a principal: its policies,
	// boundary, keys, passwords, MFA, groups, tags and existence, and
	// passing it to a service. Both member roles are denied them on the
	// bot's own roles and users, so no session of the bot can grant itself
	// more, wherever the role's allows come from. Tags are the exception
	// the canary needs (SidDenyBotTags).
	botChangeActions = []string{
		"iam:Add*", "iam:Attach*", "iam:Create*", "iam:Deactivate*", "iam:Delete*", "iam:Detach*", "iam:Enable*",
		"iam:PassRole", "iam:Put*", "iam:Remove*", "iam:Reset*", "iam:Resync*", "iam:Set*", "iam:Untag*",
		"iam:Update*", "iam:Upload*",
	}
	botTagActions = []string{"iam:TagRole", "iam:TagUser"}
	// trustChangeActions would let a session choose who may assume a
	// break-glass role: its trust policy, or the role itself.
	trustChangeActions = []string{"iam:CreateRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy"}
)

// ContainmentActions are the actions the containment catalogue declares,
// read from the provider so that a new action's permissions appear here
// without an edit.
func ContainmentActions() []string {
	return contain.New(nil, containment.Config{}, nil, contain.Options{}).RequiredPermissions()
}

// ContainmentReadActions are the catalogue's reads (Get, Describe, List),
// which previews and the checks around each change make with the read
// role; ContainmentWriteActions the rest, made in write sessions.
func ContainmentReadActions() []string { return splitReads(ContainmentActions(), true) }

// ContainmentWriteActions: see ContainmentReadActions.
func ContainmentWriteActions() []string { return splitReads(ContainmentActions(), false) }

func splitReads(actions []string, reads bool) []string {
	var out []string
	for _, a := range actions {
		if IsRead(a) == reads {
			out = append(out, a)
		}
	}
	return out
}

// IsRead reports whether an action only reads: Get, Describe, List and
// LookupEvents.
func IsRead(action string) bool {
	_, name, _ := strings.Cut(action, ":")
	for _, verb := range []string{"Get", "Describe", "List", "LookupEvents"} {
		if strings.HasPrefix(name, verb) {
			return true
		}
	}
	return false
}

// Policies returns the bot role's policy, the read-only member role's and
// the member write role's for the features in opts. A document may have no
// statements when no feature needs it; without a write role the member
// role's holds the write statements and the write role's is empty.
func Policies(opts Options) (bot, member, write Document) {
	bot = Document{Version: Version, Statement: []Statement{}}
	member = Document{Version: Version, Statement: []Statement{}}
	write = Document{Version: Version, Statement: []Statement{}}
	part := partition(opts.QueueARN)
	readRoles, writeRoles := memberRoles(opts, part), memberWriteRoles(opts, part)
	split := len(writeRoles) > 0

	if opts.SQS {
		bot.add(SidEventQueue, queueActions, or(opts.QueueARN, "arn:"+part+":sqs:*:*:*"))
		logs := "arn:" + part + ":s3:::*/AWSLogs/*"
		if opts.TrailBucket != "" {
			logs = "arn:" + part + ":s3:::" + opts.TrailBucket + "/*"
		}
		bot.add(SidTrailLogs, []string{"s3:GetObject"}, logs)
		if opts.KMSKeyARN != "" {
			bot.add(SidTrailKey, []string{"kms:Decrypt"}, opts.KMSKeyARN)
		}
	}
	if opts.OrgAccounts {
		// ListAccounts has no resource-level permissions.
		bot.add(SidOrgAccounts, []string{"organizations:ListAccounts"}, "*")
	}
	if opts.Canary {
		switch {
		case strings.Contains(opts.BotARN, ":role/"):
			bot.add(SidCanaryTag, []string{"iam:TagRole"}, opts.BotARN)
		case strings.Contains(opts.BotARN, ":user/"):
			bot.add(SidCanaryTag, []string{"iam:TagUser"}, opts.BotARN)
		default:
			bot.add(SidCanaryTag, canaryTagActions, "arn:"+part+":iam::*:role/*", "arn:"+part+":iam::*:user/*")
		}
		bot.Statement[len(bot.Statement)-1].Condition = canaryCondition()
		bot.add(SidCanaryIdentity, canaryIdentityActions, "*")
	}

	if opts.AuditBucket != "" {
		// Anchors are written and read back, never deleted: the bot
		// cannot remove what would show the log was rewritten.
		// PutObjectRetention is checked when a put carries a retention.
		prefix := or(opts.AuditPrefix, "secops-bot/audit/")
		bot.add(SidAuditAnchors, []string{"s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"}, "arn:"+part+":s3:::"+opts.AuditBucket+"/"+prefix+"*")
		bot.add(SidAuditBucket, []string{"s3:GetBucketObjectLockConfiguration", "s3:ListBucket"}, "arn:"+part+":s3:::"+opts.AuditBucket)
	}
	if opts.StateReads {
		member.add(SidStateReads, stateReadActions, "*")
		member.add(SidAccessRecords, accessRecordActions, "*")
		if len(opts.AccessLogBuckets) > 0 {
			var res []string
			for _, b := range opts.AccessLogBuckets {
				res = append(res, "arn:"+part+":s3:::"+b, "arn:"+part+":s3:::"+b+"/*")
			}
			member.add(SidAccessLogs, []string{"s3:GetObject", "s3:ListBucket"}, res...)
		}
	}
	if opts.Containment {
		member.add(SidContainmentReads, ContainmentReadActions(), "*")
		write.add(SidContainment, ContainmentWriteActions(), "*")
	}
	if opts.Backfill {
		// The backfill reads each account's events with that account's
		// credentials, and so does the summary of a break-glass session
		// (its calls by the session's access key; without this statement
		// the summary says the lookup was refused and keeps to the
		// history); LookupEvents has no resource-level permissions.
		member.add(SidBackfill, []string{"cloudtrail:LookupEvents"}, "*")
	}
	if opts.BreakGlassAssumeRole {
		roles := breakGlassRoles(opts, part)
		// The role's maximum session bounds the windows offered.
		member.add(SidBreakGlassReadRole, []string{"iam:GetRole"}, roles...)
		write.add(SidBreakGlassRole, breakGlassAssumeActions, roles...)
		write.add(SidBreakGlassRevoke, breakGlassRevokeActions, roles...)
	}
	if opts.BreakGlassIdentityCenter {
		// Assignments name the instance, permission set and account;
		// scoping them needs the ARNs of all three, which vary per
		// deployment, so the statements are account-wide, the member
		// roles carrying them belong only in the Identity Center account,
		// and each write session names the three.
		member.add(SidIdentityCenterRead, identityCenterReadActions, "*")
		write.add(SidIdentityCenter, identityCenterActions, "*")
	}
	if opts.CanaryMembers && len(readRoles) > 0 {
		// Each member role tags itself; without member roles the bot's
		// own canary statements serve.
		member.add(SidCanaryTag, []string{"iam:TagRole"}, readRoles...)
		member.Statement[len(member.Statement)-1].Condition = canaryCondition()
		member.add(SidCanaryIdentity, canaryIdentityActions, "*")
	}

	if !split {
		member.Statement = append(member.Statement, write.Statement...)
		write.Statement = []Statement{}
	}
	if len(member.Statement) == 0 && len(write.Statement) == 0 {
		return bot, member, write
	}
	if len(readRoles) == 0 {
		// No member role: the bot acts with its own credentials.
		bot.Statement = append(bot.Statement, member.Statement...)
		return bot, member, write
	}
	guards := guardStatements(opts, part, append(slices.Clone(readRoles), writeRoles...))
	member.Statement = append(member.Statement, guards...)
	bot.add(SidAssumeMember, []string{"sts:AssumeRole"}, readRoles...)
	if len(write.Statement) > 0 {
		write.Statement = append(write.Statement, guards...)
		// Each write session carries the confirming user as its source
		// identity and the action as a session tag.
		bot.add(SidAssumeMemberWrite, []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}, writeRoles...)
	}
	return bot, member, write
}

// guardStatements deny what would let a member role session widen its own
// access or open a break-glass role to others: any IAM change to the bot's
// roles and users (tags other than the canary's included), and any change
// to who may assume the break-glass roles (all roles when they are not
// named).
func guardStatements(opts Options, part string, own []string) []Statement {
	if strings.Contains(opts.BotARN, ":role/") || strings.Contains(opts.BotARN, ":user/") {
		own = append(own, opts.BotARN)
	}
	trust := opts.BreakGlassRoleARNs
	if len(trust) == 0 {
		trust = []string{"arn:" + part + ":iam::*:role/*"}
	}
	var d Document
	d.deny(SidDenyBotChanges, botChangeActions, own...)
	d.deny(SidDenyBotTags, botTagActions, own...)
	d.Statement[len(d.Statement)-1].Condition = map[string]map[string][]string{"ForAnyValue:StringNotEquals": {"aws:TagKeys": {awscanary.TagKey}}}
	d.deny(SidDenyTrustChanges, trustChangeActions, trust...)
	return d.Statement
}

func breakGlassRoles(opts Options, part string) []string {
	if len(opts.BreakGlassRoleARNs) == 0 {
		return []string{"arn:" + part + ":iam::*:role/*"}
	}
	return opts.BreakGlassRoleARNs
}

// memberWriteRoles are the roles the bot assumes for changes in member
// accounts; none when the member roles make them.
func memberWriteRoles(opts Options, part string) []string {
	roles := append([]string(nil), opts.MemberWriteRoleARNs...)
	if opts.MemberWriteRoleName != "" {
		roles = append([]string{"arn:" + part + ":iam::*:role/" + opts.MemberWriteRoleName}, roles...)
	}
	return roles
}

// memberRoles are the roles the bot assumes in member accounts.
func memberRoles(opts Options, part string) []string {
	roles := append([]string(nil), opts.MemberRoleARNs...)
	if opts.MemberRoleName != "" {
		roles = append([]string{"arn:" + part + ":iam::*:role/" + opts.MemberRoleName}, roles...)
	}
	return roles
}

// canaryCondition allows writing the canary's tag and no other, so the
// permission to tag a role cannot change the tags other policies key on.
func canaryCondition() map[string]map[string][]string {
	return map[string]map[string][]string{"ForAllValues:StringEquals": {"aws:TagKeys": {awscanary.TagKey}}}
}

func (d *Document) add(sid string, actions []string, resources ...string) {
	a := append([]string(nil), actions...)
	sort.Strings(a)
	d.Statement = append(d.Statement, Statement{Sid: sid, Effect: "Allow", Action: a, Resource: resources})
}

func (d *Document) deny(sid string, actions []string, resources ...string) {
	a := append([]string(nil), actions...)
	sort.Strings(a)
	d.Statement = append(d.Statement, Statement{Sid: sid, Effect: "Deny", Action: a, Resource: resources})
}

// partition is the queue's partition (aws-cn, aws-us-gov), so that the
// other ARNs match the deployment's; aws when unknown.
func partition(queueARN string) string {
	if rest, ok := strings.CutPrefix(queueARN, "arn:"); ok {
		if p, _, ok := strings.Cut(rest, ":"); ok && p != "" {
			return p
		}
	}
	return "aws"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// QueueARN turns an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME,
// or the legacy REGION.queue.amazonaws.com form) into the queue's ARN.
func QueueARN(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", fmt.Errorf("queue URL %q: %w", queueURL, err)
	}
	host := u.Hostname()
	var region, partition string
	switch {
	case strings.HasSuffix(host, ".amazonaws.com.cn"):
		partition, host = "aws-cn", strings.TrimSuffix(host, ".amazonaws.com.cn")
	case strings.HasSuffix(host, ".amazonaws.com"):
		partition, host = "aws", strings.TrimSuffix(host, ".amazonaws.com")
	default:
		return "", fmt.Errorf("queue URL %q is not an AWS SQS endpoint", queueURL)
	}
	if r, ok := strings.CutPrefix(host, "sqs."); ok {
		region = r
	} else if r, ok := strings.CutSuffix(host, ".queue"); ok {
		region = r
	}
	if strings.HasPrefix(region, "us-gov-") {
		partition = "aws-us-gov"
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if region == "" || strings.Contains(region, ".") || len(parts) != 2 || !isAccountID(parts[0]) || parts[1] == "" {
		return "", fmt.Errorf("queue URL %q: want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", queueURL)
	}
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", partition, region, parts[0], parts[1]), nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
