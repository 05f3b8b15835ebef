package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

const sourceS3 = "s3.amazonaws.com"

func (e *Engine) putBucketPolicy(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	var p struct {
		BucketPolicy json.RawMessage `json:"bucketPolicy"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if !present(p.BucketPolicy) {
		return nil, fmt.Errorf("bucket %s: no bucketPolicy in the request", res.ID)
	}
	verdict, err := policy.Evaluate(p.BucketPolicy)
	if err != nil {
		return nil, fmt.Errorf("bucket %s policy: %w", res.ID, err)
	}
	after, _ := policy.Canonical(p.BucketPolicy) // readable: Evaluate succeeded
	change := &finding.Change{Summary: "bucket policy replaced", After: after}
	var r Result
	if verdict.IsPublic() {
		r = result(Exposure, RuleS3BucketPublic, res, "S3 bucket made public",
			fmt.Sprintf("The bucket policy of %s makes it public: %s.", res.ID, verdict.Summary()), VectorPolicy)
	} else {
		r = result(Remediation, RuleS3BucketPublic, res, "S3 bucket policy no longer public",
			fmt.Sprintf("The new bucket policy of %s grants nothing to everyone.", res.ID), VectorPolicy)
	}
	r.Change = change
	return append([]Result{r}, e.policyShares(rec, res, verdict, change, false)...), nil
}

func (e *Engine) deleteBucketPolicy(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	r := result(Remediation, RuleS3BucketPublic, res, "S3 bucket policy deleted",
		fmt.Sprintf("The bucket policy of %s was deleted.", res.ID), VectorPolicy)
	r.Change = &finding.Change{Summary: "bucket policy deleted"}
	return []Result{r, shareRemoved(res, r.Change)}, nil
}

// createBucket judges the ACL a bucket is created with: a canned ACL
// (x-amz-acl) or grant headers (x-amz-grant-*) in the request. Without
// them the bucket is private, and since April 2023 S3 refuses ACLs on new
// buckets unless object ownership allows them, so a successful call with a
// public ACL did make the bucket public.
func (e *Engine) createBucket(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	var p map[string]json.RawMessage
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	public, acl := aclPublicGrants(p)
	if len(public) == 0 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	after, _ := json.Marshal(acl)
	r := result(Exposure, RuleS3BucketPublic, res, "S3 bucket created public",
		fmt.Sprintf("Bucket %s was created with an ACL that makes it public: %s.", res.ID, strings.Join(public, "; ")), VectorACL)
	r.Change = &finding.Change{Summary: "bucket created with a public ACL", After: after}
	return []Result{r}, nil
}

// S3 group grantees that make an ACL public.
const (
	uriAllUsers      = "acs.amazonaws.com/groups/global/allusers"
	uriAuthenticated = "acs.amazonaws.com/groups/global/authenticatedusers"
)

type aclGrant struct {
	Grantee struct {
		URI string `json:"URI"`
	} `json:"Grantee"`
	Permission string `json:"Permission"`
}

func (e *Engine) putBucketACL(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	var p map[string]json.RawMessage
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	public, acl := aclPublicGrants(p)
	if acl == nil {
		// No canned ACL, grant list or grant header: nothing to judge.
		return nil, nil
	}
	after, _ := json.Marshal(acl)
	change := &finding.Change{Summary: "bucket ACL replaced", After: after}
	if len(public) > 0 {
		r := result(Exposure, RuleS3BucketPublic, res, "S3 bucket made public",
			fmt.Sprintf("The ACL of %s makes it public: %s.", res.ID, strings.Join(public, "; ")), VectorACL)
		r.Change = change
		return []Result{r}, nil
	}
	r := result(Remediation, RuleS3BucketPublic, res, "S3 bucket ACL no longer public",
		fmt.Sprintf("The new ACL of %s grants nothing to everyone or to all AWS accounts.", res.ID), VectorACL)
	r.Change = change
	return []Result{r}, nil
}

// aclPublicGrants returns a sentence per public grant, and the ACL-bearing
// request fields (nil when the request carries no ACL at all).
func aclPublicGrants(p map[string]json.RawMessage) ([]string, map[string]json.RawMessage) {
	var (
		public []string
		acl    map[string]json.RawMessage
	)
	keep := func(k string, v json.RawMessage) {
		if acl == nil {
			acl = map[string]json.RawMessage{}
		}
		acl[k] = v
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := p[k]
		lk := strings.ToLower(k)
		switch {
		case lk == "x-amz-acl":
			var canned strList
			_ = json.Unmarshal(v, &canned)
			if len(canned) == 0 {
				continue
			}
			keep(k, v)
			for _, c := range canned {
				switch strings.ToLower(c) {
				case "public-read":
					public = append(public, "the canned ACL public-read lets everyone list the bucket")
				case "public-read-write":
					public = append(public, "the canned ACL public-read-write lets everyone list and write the bucket")
				case "authenticated-read":
					public = append(public, "the canned ACL authenticated-read lets any AWS account list the bucket")
				}
			}
		case lk == "accesscontrolpolicy":
			var acp struct {
				AccessControlList struct {
					Grant oneOrMany[aclGrant] `json:"Grant"`
				} `json:"AccessControlList"`
			}
			if json.Unmarshal(v, &acp) != nil {
				continue
			}
			keep(k, v)
			for _, g := range acp.AccessControlList.Grant {
				if who := groupWords(g.Grantee.URI); who != "" {
					perm := g.Permission
					if perm == "" {
						perm = "access"
					}
					public = append(public, fmt.Sprintf("a grant gives %s %s", who, perm))
				}
			}
		case strings.HasPrefix(lk, "x-amz-grant-"):
			var vals strList
			_ = json.Unmarshal(v, &vals)
			if len(vals) == 0 {
				continue
			}
			keep(k, v)
			perm := strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(lk, "x-amz-grant-"), "-", "_"))
			for _, val := range vals {
				// A header lists grantees: uri="...", id="...", emailAddress="...".
				for _, grantee := range strings.Split(val, ",") {
					if who := groupWords(grantee); who != "" {
						public = append(public, fmt.Sprintf("the %s header gives %s %s", k, who, perm))
					}
				}
			}
		}
	}
	return public, acl
}

func groupWords(uri string) string {
	u := strings.ToLower(uri)
	switch {
	case strings.Contains(u, uriAllUsers):
		return "everyone (AllUsers)"
	case strings.Contains(u, uriAuthenticated):
		return "any AWS account (AuthenticatedUsers)"
	default:
		return ""
	}
}

// pabConfig is a PublicAccessBlockConfiguration. A missing setting is off,
// as S3 treats it.
type pabConfig struct {
	BlockPublicAcls       flexBool `json:"BlockPublicAcls"`
	IgnorePublicAcls      flexBool `json:"IgnorePublicAcls"`
	BlockPublicPolicy     flexBool `json:"BlockPublicPolicy"`
	RestrictPublicBuckets flexBool `json:"RestrictPublicBuckets"`
}

// off names the settings that are not on, in AWS's order.
func (c pabConfig) off() []string {
	var out []string
	for _, s := range []struct {
		name string
		on   bool
	}{
		{"BlockPublicAcls", c.BlockPublicAcls.Value},
		{"IgnorePublicAcls", c.IgnorePublicAcls.Value},
		{"BlockPublicPolicy", c.BlockPublicPolicy.Value},
		{"RestrictPublicBuckets", c.RestrictPublicBuckets.Value},
	} {
		if !s.on {
			out = append(out, s.name)
		}
	}
	return out
}

func (c pabConfig) json() json.RawMessage {
	b, _ := json.Marshal(map[string]bool{
		"BlockPublicAcls":       c.BlockPublicAcls.Value,
		"IgnorePublicAcls":      c.IgnorePublicAcls.Value,
		"BlockPublicPolicy":     c.BlockPublicPolicy.Value,
		"RestrictPublicBuckets": c.RestrictPublicBuckets.Value,
	})
	return b
}

// consequence says what the settings that are off let through.
func pabConsequence(off []string) string {
	var policyOff, aclOff bool
	for _, s := range off {
		switch s {
		case "BlockPublicPolicy", "RestrictPublicBuckets":
			policyOff = true
		case "BlockPublicAcls", "IgnorePublicAcls":
			aclOff = true
		}
	}
	switch {
	case policyOff && aclOff:
		return "public bucket policies and public ACLs can take effect"
	case policyOff:
		return "public bucket policies can take effect"
	default:
		return "public ACLs can take effect"
	}
}

func readPAB(rec *cloudtrail.Record) (*pabConfig, error) {
	var p struct {
		Config *pabConfig `json:"PublicAccessBlockConfiguration"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if p.Config == nil {
		return nil, fmt.Errorf("no PublicAccessBlockConfiguration in the request")
	}
	return p.Config, nil
}

func (e *Engine) putBucketPAB(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	cfg, err := readPAB(rec)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", res.ID, err)
	}
	change := &finding.Change{Summary: "bucket public access block replaced", After: cfg.json()}

	var out []Result
	if off := cfg.off(); len(off) > 0 {
		r := result(Exposure, RulePublicAccessBlockRemove, res, "S3 public access block weakened",
			fmt.Sprintf("The public access block of %s now has %s off, so %s.", res.ID, strings.Join(off, ", "), pabConsequence(off)),
			VectorPublicAccessBlock)
		r.Change = change
		out = append(out, r)
	} else {
		r := result(Remediation, RulePublicAccessBlockRemove, res, "S3 public access block restored",
			fmt.Sprintf("The public access block of %s has all four settings on again.", res.ID), VectorPublicAccessBlock)
		r.Change = change
		out = append(out, r)
	}

	// The block overrides a public policy or ACL without touching it, which
	// clears those exposures just as well.
	var cleared, how []string
	if cfg.BlockPublicPolicy.Value && cfg.RestrictPublicBuckets.Value {
		cleared = append(cleared, VectorPolicy)
		how = append(how, "public bucket policies (BlockPublicPolicy and RestrictPublicBuckets)")
	}
	if cfg.IgnorePublicAcls.Value {
		cleared = append(cleared, VectorACL)
		how = append(how, "public ACLs (IgnorePublicAcls)")
	}
	if len(cleared) > 0 {
		r := result(Remediation, RuleS3BucketPublic, res, "S3 bucket public access blocked",
			fmt.Sprintf("The public access block of %s now overrides %s.", res.ID, strings.Join(how, " and ")), cleared...)
		r.Change = change
		out = append(out, r)
	}
	return out, nil
}

func (e *Engine) deleteBucketPAB(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != sourceS3 {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	r := result(Exposure, RulePublicAccessBlockRemove, res, "S3 public access block removed",
		fmt.Sprintf("The public access block of %s was deleted; only the account-level block, if any, still stops public bucket policies and ACLs.", res.ID),
		VectorPublicAccessBlock)
	r.Change = &finding.Change{Summary: "bucket public access block deleted"}
	return []Result{r}, nil
}

func accountPABResource(rec *cloudtrail.Record) (finding.Resource, error) {
	acct := rec.Account()
	if acct == "" {
		return finding.Resource{}, fmt.Errorf("no account in the record")
	}
	return finding.Resource{
		Type: awsarn.TypeS3AccountPublicAccessBlock,
		ID:   acct,
		ARN:  awsarn.S3AccountPublicAccessBlock(awsarn.PartitionOf(rec.AWSRegion), acct).String(),
	}, nil
}

func (e *Engine) putAccountPAB(rec *cloudtrail.Record) ([]Result, error) {
	res, err := accountPABResource(rec)
	if err != nil {
		return nil, err
	}
	cfg, err := readPAB(rec)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", res.ID, err)
	}
	change := &finding.Change{Summary: "account public access block replaced", After: cfg.json()}
	if off := cfg.off(); len(off) > 0 {
		r := result(Exposure, RulePublicAccessBlockRemove, res, "Account S3 public access block weakened",
			fmt.Sprintf("The account-level public access block of %s now has %s off, so in buckets without their own block %s.", res.ID, strings.Join(off, ", "), pabConsequence(off)),
			VectorPublicAccessBlock)
		r.Change = change
		return []Result{r}, nil
	}
	r := result(Remediation, RulePublicAccessBlockRemove, res, "Account S3 public access block restored",
		fmt.Sprintf("The account-level public access block of %s has all four settings on again.", res.ID), VectorPublicAccessBlock)
	r.Change = change
	return []Result{r}, nil
}

func (e *Engine) deleteAccountPAB(rec *cloudtrail.Record) ([]Result, error) {
	res, err := accountPABResource(rec)
	if err != nil {
		return nil, err
	}
	r := result(Exposure, RulePublicAccessBlockRemove, res, "Account S3 public access block removed",
		fmt.Sprintf("The account-level public access block of %s was deleted; each bucket is now protected only by its own block.", res.ID),
		VectorPublicAccessBlock)
	r.Change = &finding.Change{Summary: "account public access block deleted"}
	return []Result{r}, nil
}
