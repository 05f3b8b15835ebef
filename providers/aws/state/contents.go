package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/macie2"
	macietypes "github.com/aws/aws-sdk-go-v2/service/macie2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

// Bounds of the contents reads: a bucket of millions of objects is
// summarised from its first pages, and Macie's findings from its newest.
const (
	listPages     = 5
	listPageSize  = 1000
	exampleKeys   = 5
	macieFindings = 25
	maxGrantPages = 5
)

// Contents reads what the finding's resource holds: a bucket's object
// listing (keys and sizes, never what the objects hold), default encryption
// and Amazon Macie's sensitive-data findings; a snapshot's or image's
// source, engine, size and encryption, with who outside the account may use
// its key. st is the state Read just returned, whose detail it builds on.
//
// Every part is read on its own and a part that fails is named in the
// result's Unreadable ("object listing: not readable: missing permission
// s3:ListBucket"), so a missing permission costs that part only. The error
// is ErrUnsupported for other resource types, and nil otherwise.
func (r *Reader) Contents(ctx context.Context, f finding.Finding, st State) (*finding.Contents, error) {
	switch f.Resource.Type {
	case awsarn.TypeS3Bucket, awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot, awsarn.TypeEC2Snapshot, awsarn.TypeEC2Image:
	default:
		return nil, fmt.Errorf("contents of %s: %w", f.Resource.Type, ErrUnsupported)
	}
	c := &finding.Contents{}
	defer func() { c.ReadAt = r.clk.Now() }()
	if st.Gone {
		return c, nil
	}
	cfg, err := r.clients.For(ctx, f.AccountID)
	if err != nil {
		c.Unreadable = append(c.Unreadable, "contents: not readable: "+Classify(err))
		return c, nil
	}
	if f.Region != "" {
		cfg.Region = f.Region
	}
	if f.Resource.Type == awsarn.TypeS3Bucket {
		id := st.ID
		if id == "" {
			id = f.Resource.ID
		}
		r.bucketContents(ctx, cfg, f, id, c)
		return c, nil
	}
	var d ShareDetail
	decodeDetail(st.Detail, &d)
	r.snapshotContents(ctx, f, d, c)
	return c, nil
}

// unreadable records a part that could not be read, in words a responder
// can act on: the permission missing, or what went wrong.
func unreadable(c *finding.Contents, part, permission string, err error) {
	c.Unreadable = append(c.Unreadable, part+": not readable: "+Unreadable(permission, err))
}

// Unreadable says why a read failed: "missing permission X" when AWS
// refused it, else Classify's words.
func Unreadable(permission string, err error) string {
	if isAccessDenied(apiCode(err)) && !errors.Is(err, awsclient.ErrAssumeRole) {
		return "missing permission " + permission
	}
	return Classify(err)
}

func (r *Reader) bucketContents(ctx context.Context, cfg aws.Config, f finding.Finding, bucket string, c *finding.Contents) {
	client := s3.NewFromConfig(cfg)
	objs := &finding.Objects{}
	type obj struct {
		key string
		mod int64
	}
	var newest []obj
	var token *string
	for page := 0; ; page++ {
		if page == listPages {
			break
		}
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(listPageSize), ContinuationToken: token})
		if err != nil {
			unreadable(c, "object listing", "s3:ListBucket", err)
			objs = nil
			break
		}
		for _, o := range out.Contents {
			objs.Count++
			objs.Bytes += aws.ToInt64(o.Size)
			mod := aws.ToTime(o.LastModified)
			if mod.After(objs.Newest) {
				objs.Newest = mod
			}
			newest = append(newest, obj{aws.ToString(o.Key), mod.UnixNano()})
			if len(newest) > 4*exampleKeys {
				sort.SliceStable(newest, func(i, j int) bool { return newest[i].mod > newest[j].mod })
				newest = newest[:exampleKeys]
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			objs.Complete = true
			break
		}
		token = out.NextContinuationToken
	}
	if objs != nil {
		sort.SliceStable(newest, func(i, j int) bool { return newest[i].mod > newest[j].mod })
		for i := 0; i < len(newest) && i < exampleKeys; i++ {
			objs.Examples = append(objs.Examples, newest[i].key)
		}
		c.Objects = objs
	}

	enc, err := client.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	switch {
	case apiCode(err) == "ServerSideEncryptionConfigurationNotFoundError":
		c.Encryption = "none"
	case err != nil:
		unreadable(c, "default encryption", "s3:GetEncryptionConfiguration", err)
	case enc.ServerSideEncryptionConfiguration != nil:
		var rules []string
		for _, rule := range enc.ServerSideEncryptionConfiguration.Rules {
			if d := rule.ApplyServerSideEncryptionByDefault; d != nil {
				rules = append(rules, encryptionWords(string(d.SSEAlgorithm), aws.ToString(d.KMSMasterKeyID)))
			}
		}
		c.Encryption = strings.Join(rules, "; ")
	}

	c.Macie = r.macie(ctx, cfg, bucket, c)
}

// encryptionWords names a default encryption rule.
func encryptionWords(algorithm, key string) string {
	switch algorithm {
	case "AES256":
		return "SSE-S3 (AES256)"
	case "aws:kms", "aws:kms:dsse":
		name := "SSE-KMS"
		if algorithm == "aws:kms:dsse" {
			name = "DSSE-KMS"
		}
		if key == "" {
			return name + " with the AWS-managed key aws/s3"
		}
		return name + " with key " + key
	}
	return algorithm
}

// macie reads Macie's session and its sensitive-data findings for the
// bucket; nil when it could not tell whether Macie runs.
func (r *Reader) macie(ctx context.Context, cfg aws.Config, bucket string, c *finding.Contents) *finding.Macie {
	client := macie2.NewFromConfig(cfg)
	if _, err := client.GetMacieSession(ctx, &macie2.GetMacieSessionInput{}); err != nil {
		if macieDisabled(err) {
			return &finding.Macie{}
		}
		unreadable(c, "Macie findings", "macie2:GetMacieSession", err)
		return nil
	}
	m := &finding.Macie{Enabled: true}
	list, err := client.ListFindings(ctx, &macie2.ListFindingsInput{
		FindingCriteria: &macietypes.FindingCriteria{Criterion: map[string]macietypes.CriterionAdditionalProperties{
			"resourcesAffected.s3Bucket.name": {Eq: []string{bucket}},
			"category":                        {Eq: []string{string(macietypes.FindingCategoryClassification)}},
			"archived":                        {Eq: []string{"false"}},
		}},
		MaxResults:   aws.Int32(macieFindings),
		SortCriteria: &macietypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: macietypes.OrderByDesc},
	})
	if err != nil {
		unreadable(c, "Macie findings", "macie2:ListFindings", err)
		return m
	}
	m.More = aws.ToString(list.NextToken) != ""
	if len(list.FindingIds) == 0 {
		return m
	}
	got, err := client.GetFindings(ctx, &macie2.GetFindingsInput{FindingIds: list.FindingIds})
	if err != nil {
		m.Findings = len(list.FindingIds)
		unreadable(c, "Macie finding details", "macie2:GetFindings", err)
		return m
	}
	counts := map[string]int64{}
	rank := map[string]int{"Low": 1, "Medium": 2, "High": 3}
	for _, fd := range got.Findings {
		m.Findings++
		if sev := fd.Severity; sev != nil && rank[string(sev.Description)] > rank[m.Highest] {
			m.Highest = string(sev.Description)
		}
		if ra := fd.ResourcesAffected; ra != nil && ra.S3Object != nil {
			if k := aws.ToString(ra.S3Object.Key); k != "" && len(m.Objects) < exampleKeys && !slices.Contains(m.Objects, k) {
				m.Objects = append(m.Objects, k)
			}
		}
		if cd := fd.ClassificationDetails; cd != nil && cd.Result != nil {
			for _, sd := range cd.Result.SensitiveData {
				for _, det := range sd.Detections {
					counts[aws.ToString(det.Type)] += aws.ToInt64(det.Count)
				}
			}
		}
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if counts[types[i]] != counts[types[j]] {
			return counts[types[i]] > counts[types[j]]
		}
		return types[i] < types[j]
	})
	for _, t := range types {
		m.Types = append(m.Types, fmt.Sprintf("%s ×%d", t, counts[t]))
	}
	return m
}

// macieDisabled tells "Macie is not enabled" (AccessDeniedException with
// that message) from a missing permission (the same code, naming the
// action).
func macieDisabled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.ErrorCode() == "AccessDeniedException" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "not enabled")
}

// snapshotContents describes a snapshot or image from its state detail and
// reads its key.
func (r *Reader) snapshotContents(ctx context.Context, f finding.Finding, d ShareDetail, c *finding.Contents) {
	switch {
	case d.SourceInstance != "":
		c.Source = "DB instance " + d.SourceInstance
	case d.SourceCluster != "":
		c.Source = "DB cluster " + d.SourceCluster
	case d.SourceVolume != "":
		c.Source = "volume " + d.SourceVolume
	case d.Name != "":
		c.Source = "image " + d.Name
	}
	c.Engine, c.SizeGiB = d.Engine, d.SizeGiB
	k := &finding.KeyAccess{}
	c.Key = k
	if !d.Encrypted {
		k.Case, k.Why = finding.KeyUnencrypted, "not encrypted: whoever it is shared with can copy or restore it"
		return
	}
	k.KeyARN = d.KMSKeyID
	if d.KMSKeyID == "" {
		k.Case, k.Why = finding.KeyUnknown, "encrypted, but AWS did not say with which key"
		return
	}
	r.keyAccess(ctx, f, d.KMSKeyID, k, c)
}

// useActions are the KMS actions that let another account copy, restore
// or launch from an encrypted snapshot or image: decrypting, re-encrypting
// under its own key, or granting itself (or a service) the use of the key.
var useActions = []string{"kms:Decrypt", "kms:CreateGrant", "kms:ReEncryptFrom"}

// useOperations are the grant operations that do the same.
var useOperations = []string{"Decrypt", "CreateGrant", "ReEncryptFrom"}

// keyAccess reads the key (in its own account, which may not be the
// snapshot's) and decides whether a share target may use it.
func (r *Reader) keyAccess(ctx context.Context, f finding.Finding, keyID string, k *finding.KeyAccess, c *finding.Contents) {
	account, region := f.AccountID, f.Region
	if a, err := awsarn.Parse(keyID); err == nil && a.Account != "" {
		account, region = a.Account, a.Region
	}
	cfg, err := r.clients.For(ctx, account)
	if err != nil {
		k.Case, k.Why = finding.KeyUnknown, "the key's account could not be read: "+Classify(err)
		c.Unreadable = append(c.Unreadable, "encryption key: not readable: "+Classify(err))
		return
	}
	if region != "" {
		cfg.Region = region
	}
	client := kms.NewFromConfig(cfg)
	desc, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		k.Case, k.Why = finding.KeyUnknown, "the key could not be read"
		unreadable(c, "encryption key", "kms:DescribeKey", err)
		return
	}
	md := desc.KeyMetadata
	if md != nil {
		k.KeyARN, k.Manager = aws.ToString(md.Arn), string(md.KeyManager)
	}
	if k.Manager == "AWS" {
		k.Case, k.Why = finding.KeyAWSManaged, "encrypted with an AWS-managed key, which no other account can use"
		return
	}
	targets := map[string]bool{}
	for _, t := range f.UnknownTargets() {
		targets[t.Account] = true
	}
	users := map[string]*finding.KeyUser{}
	user := func(acct string) *finding.KeyUser {
		u, ok := users[acct]
		if !ok {
			u = &finding.KeyUser{Account: acct, Target: targets[acct] || (acct == "*" && len(targets) > 0)}
			users[acct] = u
		}
		return u
	}

	pol, err := client.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	policyRead := err == nil
	if err != nil {
		unreadable(c, "key policy", "kms:GetKeyPolicy", err)
	} else if res, perr := policy.Evaluate(json.RawMessage(aws.ToString(pol.Policy))); perr != nil {
		policyRead = false
		c.Unreadable = append(c.Unreadable, "key policy: not readable: "+perr.Error())
	} else {
		for _, s := range res.Public {
			if grantsUse(s) {
				user("*").Via = append(user("*").Via, "key policy "+statementName(s)+" ("+strings.Join(s.Actions, ", ")+", to everyone)")
			}
		}
		for _, s := range res.Shared {
			if !grantsUse(s) {
				continue
			}
			for _, acct := range s.Accounts {
				if acct == account {
					continue
				}
				user(acct).Via = append(user(acct).Via, "key policy "+statementName(s)+" ("+strings.Join(s.Actions, ", ")+")")
			}
		}
	}

	grantsRead := true
	var marker *string
	for page := 0; page < maxGrantPages; page++ {
		out, err := client.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyID), Marker: marker})
		if err != nil {
			grantsRead = false
			unreadable(c, "key grants", "kms:ListGrants", err)
			break
		}
		for _, g := range out.Grants {
			acct := principalAccount(aws.ToString(g.GranteePrincipal))
			if acct == "" || acct == account {
				continue
			}
			var ops []string
			for _, op := range g.Operations {
				ops = append(ops, string(op))
			}
			if !slices.ContainsFunc(ops, func(op string) bool { return slices.Contains(useOperations, op) }) {
				continue
			}
			u := user(acct)
			id := aws.ToString(g.GrantId)
			u.Via = append(u.Via, "grant "+shortGrant(id)+" ("+strings.Join(ops, ", ")+")")
			u.GrantIDs = append(u.GrantIDs, id)
		}
		if !out.Truncated || out.NextMarker == nil {
			break
		}
		marker = out.NextMarker
	}

	accts := make([]string, 0, len(users))
	for a := range users {
		accts = append(accts, a)
	}
	sort.Strings(accts)
	for _, a := range accts {
		k.Users = append(k.Users, *users[a])
	}
	var usable []string
	for _, u := range k.Users {
		if u.Target {
			usable = append(usable, u.Account)
		}
	}
	switch {
	case len(usable) > 0:
		who := strings.Join(usable, ", ")
		if who == "*" {
			who = "everyone"
		}
		k.Case, k.Why = finding.KeyCustomerUsable, "encrypted with a customer-managed key that "+who+" may use: the share is usable"
	case !policyRead || !grantsRead:
		k.Case, k.Why = finding.KeyUnknown, "encrypted with a customer-managed key whose policy or grants could not be read"
	default:
		k.Case, k.Why = finding.KeyCustomerNotUsable, "encrypted with a customer-managed key that the accounts it is shared with may not use: the share is not usable unless the key policy or a grant changes"
	}
}

// grantsUse reports whether a statement allows one of the use actions
// (wildcards included; NotAction is read as allowing them).
func grantsUse(s policy.Statement) bool {
	if s.NotAction {
		return true
	}
	for _, a := range s.Actions {
		for _, want := range useActions {
			if actionMatches(a, want) {
				return true
			}
		}
	}
	return false
}

// actionMatches matches an IAM action pattern (with * and ?) against an
// action, case-insensitively.
func actionMatches(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	if p == "*" {
		return true
	}
	return wildcard(p, a)
}

func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

func statementName(s policy.Statement) string {
	if s.Sid != "" {
		return fmt.Sprintf("statement %q", s.Sid)
	}
	return fmt.Sprintf("statement #%d", s.Index+1)
}

// principalAccount is the account of an IAM or STS principal ARN, or of a
// bare account ID; "" for service principals.
func principalAccount(p string) string {
	if awsarn.IsAccountID(p) {
		return p
	}
	if a, err := awsarn.Parse(p); err == nil && (a.Service == "iam" || a.Service == "sts") {
		return a.Account
	}
	return ""
}

func shortGrant(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
