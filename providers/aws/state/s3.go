package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// readTarget is what one read needs: the account's configuration, the
// finding and the resource ID.
type readTarget struct {
	cfg     aws.Config
	finding finding.Finding
	id      string
}

// S3Detail is a bucket's exposure-relevant state.
type S3Detail struct {
	// Policy is the bucket policy as canonical JSON, absent when none.
	Policy json.RawMessage `json:"policy,omitempty"`
	// PolicyStatus is S3's own verdict on the policy.
	PolicyStatus *PolicyStatus `json:"policy_status,omitempty"`
	// PublicStatements are the policy's statements that grant access to
	// everyone, as the policy evaluator reads them.
	PublicStatements         []policy.Statement `json:"public_statements,omitempty"`
	ACL                      []Grant            `json:"acl"`
	PublicAccessBlock        *PublicAccessBlock `json:"public_access_block,omitempty"`
	AccountPublicAccessBlock *PublicAccessBlock `json:"account_public_access_block,omitempty"`
}

// PolicyStatus mirrors GetBucketPolicyStatus.
type PolicyStatus struct {
	IsPublic bool `json:"IsPublic"`
}

// Grant is one ACL grant. Grantee is "AllUsers", "AuthenticatedUsers" or
// another group's name for groups, the canonical ID (or display name) of a
// user, or an email address.
type Grant struct {
	Grantee    string `json:"grantee"`
	Type       string `json:"type"`
	Permission string `json:"permission"`
}

// Public reports whether the grant is to everyone or to every AWS account.
func (g Grant) Public() bool {
	return g.Type == "Group" && (g.Grantee == "AllUsers" || g.Grantee == "AuthenticatedUsers")
}

// PublicAccessBlock is a bucket's or account's public access block.
type PublicAccessBlock struct {
	BlockPublicAcls       bool `json:"BlockPublicAcls"`
	IgnorePublicAcls      bool `json:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `json:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `json:"RestrictPublicBuckets"`
}

func (r *Reader) readBucket(ctx context.Context, t readTarget, st *State) error {
	client := s3.NewFromConfig(t.cfg)
	bucket := aws.String(t.id)
	if st.ARN == "" {
		st.ARN = awsarn.S3Bucket(awsarn.PartitionAWS, t.id).String()
	}
	var d S3Detail

	pol, err := client.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket})
	switch code := apiCode(err); {
	case code == "NoSuchBucket":
		gone(st)
		return nil
	case code == "NoSuchBucketPolicy":
	case err != nil:
		return fmt.Errorf("get bucket policy: %w", err)
	default:
		raw, _ := json.Marshal(aws.ToString(pol.Policy))
		canon, err := policy.Canonical(raw)
		if err != nil {
			return fmt.Errorf("bucket policy: %w", err)
		}
		d.Policy = canon
		res, err := policy.Evaluate(canon)
		if err != nil {
			return fmt.Errorf("bucket policy: %w", err)
		}
		d.PublicStatements = res.Public
	}

	if d.Policy != nil {
		ps, err := client.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket})
		switch {
		case apiCode(err) == "NoSuchBucketPolicy":
		case err != nil:
			return fmt.Errorf("get bucket policy status: %w", err)
		case ps.PolicyStatus != nil:
			d.PolicyStatus = &PolicyStatus{IsPublic: aws.ToBool(ps.PolicyStatus.IsPublic)}
		}
	}

	acl, err := client.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: bucket})
	if err != nil {
		return fmt.Errorf("get bucket acl: %w", err)
	}
	d.ACL = []Grant{}
	for _, g := range acl.Grants {
		if g.Grantee == nil {
			continue
		}
		gr := Grant{Type: string(g.Grantee.Type), Permission: string(g.Permission)}
		switch {
		case g.Grantee.URI != nil:
			gr.Grantee = lastSegment(aws.ToString(g.Grantee.URI))
		case g.Grantee.EmailAddress != nil:
			gr.Grantee = aws.ToString(g.Grantee.EmailAddress)
		case g.Grantee.ID != nil:
			gr.Grantee = aws.ToString(g.Grantee.ID)
		default:
			gr.Grantee = aws.ToString(g.Grantee.DisplayName)
		}
		d.ACL = append(d.ACL, gr)
	}

	pab, err := client.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	switch {
	case apiCode(err) == "NoSuchPublicAccessBlockConfiguration":
	case err != nil:
		return fmt.Errorf("get bucket public access block: %w", err)
	default:
		d.PublicAccessBlock = fromS3PAB(pab.PublicAccessBlockConfiguration.BlockPublicAcls, pab.PublicAccessBlockConfiguration.IgnorePublicAcls,
			pab.PublicAccessBlockConfiguration.BlockPublicPolicy, pab.PublicAccessBlockConfiguration.RestrictPublicBuckets)
	}

	apab, err := s3control.NewFromConfig(t.cfg).GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String(st.Account)})
	switch {
	case apiCode(err) == "NoSuchPublicAccessBlockConfiguration":
	case err != nil:
		return fmt.Errorf("get account public access block: %w", err)
	case apab.PublicAccessBlockConfiguration != nil:
		c := apab.PublicAccessBlockConfiguration
		d.AccountPublicAccessBlock = fromS3PAB(c.BlockPublicAcls, c.IgnorePublicAcls, c.BlockPublicPolicy, c.RestrictPublicBuckets)
	}

	tags, err := client.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	switch {
	case apiCode(err) == "NoSuchTagSet":
	case err != nil:
		return fmt.Errorf("get bucket tagging: %w", err)
	default:
		for _, tg := range tags.TagSet {
			if st.Tags == nil {
				st.Tags = map[string]string{}
			}
			st.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}

	st.Exposed, st.Reason = bucketVerdict(d)
	return setDetail(st, d)
}

func fromS3PAB(acls, ignore, policy, restrict *bool) *PublicAccessBlock {
	return &PublicAccessBlock{
		BlockPublicAcls: aws.ToBool(acls), IgnorePublicAcls: aws.ToBool(ignore),
		BlockPublicPolicy: aws.ToBool(policy), RestrictPublicBuckets: aws.ToBool(restrict),
	}
}

// bucketVerdict decides exposure the way S3 enforces it: a public policy
// is neutralised only by RestrictPublicBuckets and public ACL grants only
// by IgnorePublicAcls, from either the bucket's or the account's block.
// (BlockPublicPolicy and BlockPublicAcls refuse new public settings but
// leave existing ones in force.)
func bucketVerdict(d S3Detail) (bool, string) {
	var exposed, neutralised []string

	policyPublic := len(d.PublicStatements) > 0
	if d.PolicyStatus != nil {
		// S3's own verdict wins over the evaluator's reading.
		policyPublic = d.PolicyStatus.IsPublic
	}
	if policyPublic {
		why := "bucket policy is public"
		if len(d.PublicStatements) > 0 {
			parts := make([]string, 0, len(d.PublicStatements))
			for _, s := range d.PublicStatements {
				parts = append(parts, s.Describe())
			}
			why += " (" + strings.Join(parts, "; ") + ")"
		}
		if by := blockedBy(d, func(p *PublicAccessBlock) bool { return p.RestrictPublicBuckets }); by != "" {
			neutralised = append(neutralised, "public policy neutralised by the "+by+" (RestrictPublicBuckets)")
		} else {
			exposed = append(exposed, why)
		}
	}

	var grants []string
	for _, g := range d.ACL {
		if g.Public() {
			grants = append(grants, g.Permission+" to "+g.Grantee)
		}
	}
	if len(grants) > 0 {
		if by := blockedBy(d, func(p *PublicAccessBlock) bool { return p.IgnorePublicAcls }); by != "" {
			neutralised = append(neutralised, "public ACL grants neutralised by the "+by+" (IgnorePublicAcls)")
		} else {
			exposed = append(exposed, "ACL grants "+strings.Join(grants, ", "))
		}
	}

	switch {
	case len(exposed) > 0:
		return true, strings.Join(exposed, "; ")
	case len(neutralised) > 0:
		return false, strings.Join(neutralised, "; ")
	default:
		return false, "bucket is not public"
	}
}

func blockedBy(d S3Detail, on func(*PublicAccessBlock) bool) string {
	if d.PublicAccessBlock != nil && on(d.PublicAccessBlock) {
		return "bucket public access block"
	}
	if d.AccountPublicAccessBlock != nil && on(d.AccountPublicAccessBlock) {
		return "account public access block"
	}
	return ""
}
