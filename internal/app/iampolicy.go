package app

import (
	"fmt"
	"slices"

	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/internal/iampolicy"
	"github.com/secops-bot/secops-bot/respond/breakglass"
)

// IAMPolicyOptions maps the configuration to the features whose IAM
// permissions secops-bot iam-policy prints. State reads, containment and
// backfill come with aws.enabled (the bot offers containment whenever it
// can reach the accounts); break-glass modes come from the accounts listed
// under breakglass.
func IAMPolicyOptions(cfg config.Config) (iampolicy.Options, error) {
	o := iampolicy.Options{
		StateReads:          cfg.AWS.Enabled,
		AccessLogBuckets:    cfg.AWS.AccessLogBuckets,
		Containment:         cfg.AWS.Enabled,
		Backfill:            cfg.AWS.Enabled,
		OrgAccounts:         cfg.AWS.Enabled && cfg.AWS.OrgAccounts,
		MemberRoleName:      cfg.AWS.MemberRoleName,
		MemberWriteRoleName: cfg.AWS.MemberWriteRoleName,
		Canary:              cfg.Canary.Enabled,
		CanaryMembers:       cfg.Canary.Enabled && cfg.AWS.Enabled && len(cfg.Canary.Accounts) > 0,
	}
	if cfg.Audit.S3Bucket != "" {
		o.AuditBucket, o.AuditPrefix = cfg.Audit.S3Bucket, cfg.Audit.S3Prefix
	}
	if u := cfg.Ingest.SQSQueueURL; u != "" {
		arn, err := iampolicy.QueueARN(u)
		if err != nil {
			return iampolicy.Options{}, fmt.Errorf("ingest.sqs_queue_url: %w", err)
		}
		o.SQS, o.QueueARN = true, arn
	}
	for _, a := range cfg.Accounts {
		if a.RoleARN != "" {
			o.MemberRoleARNs = append(o.MemberRoleARNs, a.RoleARN)
		}
		if a.WriteRoleARN != "" {
			o.MemberWriteRoleARNs = append(o.MemberWriteRoleARNs, a.WriteRoleARN)
		}
	}
	if cfg.BreakGlass.Enabled {
		for _, a := range cfg.BreakGlass.Accounts {
			switch a.Mode {
			case breakglass.ModeIdentityCenter:
				o.BreakGlassIdentityCenter = true
			default:
				o.BreakGlassAssumeRole = true
				for _, l := range a.Levels {
					if l.RoleARN != "" {
						o.BreakGlassRoleARNs = append(o.BreakGlassRoleARNs, l.RoleARN)
					}
				}
			}
		}
	}
	o.MemberRoleARNs = sortedUnique(o.MemberRoleARNs)
	o.MemberWriteRoleARNs = sortedUnique(o.MemberWriteRoleARNs)
	o.BreakGlassRoleARNs = sortedUnique(o.BreakGlassRoleARNs)
	return o, nil
}

// sortedUnique sorts ARNs and drops repeats, so that a policy names each
// once.
func sortedUnique(in []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(in)))
}
