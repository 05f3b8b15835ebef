package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// shareAll is the share target that makes a snapshot or image public.
const shareAll = "all"

// ShareDetail is a snapshot's or image's sharing state.
type ShareDetail struct {
	// SharedWith lists account IDs, "all", or (images) organization and
	// organizational unit ARNs, sorted.
	SharedWith []string `json:"shared_with"`
	Encrypted  bool     `json:"encrypted"`
	// SourceInstance is the DB instance of a DB snapshot; SourceCluster the
	// cluster of a cluster snapshot; SourceVolume the volume of an EBS
	// snapshot.
	SourceInstance string `json:"source_instance,omitempty"`
	SourceCluster  string `json:"source_cluster,omitempty"`
	SourceVolume   string `json:"source_volume,omitempty"`
	Engine         string `json:"engine,omitempty"`
	// KMSKeyID is the key an encrypted snapshot or image (its first
	// encrypted device) is encrypted with, as AWS reports it (an ARN or
	// ID); SizeGiB the allocated storage, volume size or the sum of an
	// image's volumes.
	KMSKeyID    string    `json:"kms_key_id,omitempty"`
	SizeGiB     int       `json:"size_gib,omitempty"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

func (r *Reader) readDBSnapshot(ctx context.Context, t readTarget, st *State) error {
	client := rds.NewFromConfig(t.cfg)
	out, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(t.id)})
	if apiCode(err) == "DBSnapshotNotFound" || (err == nil && len(out.DBSnapshots) == 0) {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe db snapshot: %w", err)
	}
	s := out.DBSnapshots[0]
	d := ShareDetail{
		Encrypted: aws.ToBool(s.Encrypted), SourceInstance: aws.ToString(s.DBInstanceIdentifier),
		Engine: aws.ToString(s.Engine), CreatedAt: aws.ToTime(s.SnapshotCreateTime),
		KMSKeyID: aws.ToString(s.KmsKeyId), SizeGiB: int(aws.ToInt32(s.AllocatedStorage)),
	}
	if arn := aws.ToString(s.DBSnapshotArn); arn != "" {
		st.ARN = arn
	}
	for _, tg := range s.TagList {
		addTag(st, aws.ToString(tg.Key), aws.ToString(tg.Value))
	}
	attrs, err := client.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String(t.id)})
	if apiCode(err) == "DBSnapshotNotFound" {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe db snapshot attributes: %w", err)
	}
	if res := attrs.DBSnapshotAttributesResult; res != nil {
		for _, a := range res.DBSnapshotAttributes {
			if aws.ToString(a.AttributeName) == "restore" {
				d.SharedWith = append(d.SharedWith, a.AttributeValues...)
			}
		}
	}
	return finishShare(st, t.finding, d)
}

func (r *Reader) readDBClusterSnapshot(ctx context.Context, t readTarget, st *State) error {
	client := rds.NewFromConfig(t.cfg)
	out, err := client.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(t.id)})
	if apiCode(err) == "DBClusterSnapshotNotFoundFault" || (err == nil && len(out.DBClusterSnapshots) == 0) {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe db cluster snapshot: %w", err)
	}
	s := out.DBClusterSnapshots[0]
	d := ShareDetail{
		Encrypted: aws.ToBool(s.StorageEncrypted), SourceCluster: aws.ToString(s.DBClusterIdentifier),
		Engine: aws.ToString(s.Engine), CreatedAt: aws.ToTime(s.SnapshotCreateTime),
		KMSKeyID: aws.ToString(s.KmsKeyId), SizeGiB: int(aws.ToInt32(s.AllocatedStorage)),
	}
	if arn := aws.ToString(s.DBClusterSnapshotArn); arn != "" {
		st.ARN = arn
	}
	for _, tg := range s.TagList {
		addTag(st, aws.ToString(tg.Key), aws.ToString(tg.Value))
	}
	attrs, err := client.DescribeDBClusterSnapshotAttributes(ctx, &rds.DescribeDBClusterSnapshotAttributesInput{DBClusterSnapshotIdentifier: aws.String(t.id)})
	if apiCode(err) == "DBClusterSnapshotNotFoundFault" {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe db cluster snapshot attributes: %w", err)
	}
	if res := attrs.DBClusterSnapshotAttributesResult; res != nil {
		for _, a := range res.DBClusterSnapshotAttributes {
			if aws.ToString(a.AttributeName) == "restore" {
				d.SharedWith = append(d.SharedWith, a.AttributeValues...)
			}
		}
	}
	return finishShare(st, t.finding, d)
}

func (r *Reader) readEBSSnapshot(ctx context.Context, t readTarget, st *State) error {
	client := ec2.NewFromConfig(t.cfg)
	out, err := client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{t.id}})
	if apiCode(err) == "InvalidSnapshot.NotFound" || (err == nil && len(out.Snapshots) == 0) {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe snapshot: %w", err)
	}
	s := out.Snapshots[0]
	d := ShareDetail{
		Encrypted: aws.ToBool(s.Encrypted), SourceVolume: aws.ToString(s.VolumeId),
		Description: aws.ToString(s.Description), CreatedAt: aws.ToTime(s.StartTime),
		KMSKeyID: aws.ToString(s.KmsKeyId), SizeGiB: int(aws.ToInt32(s.VolumeSize)),
	}
	if st.ARN == "" {
		st.ARN = awsarn.EC2Snapshot(awsarn.PartitionAWS, st.Region, t.id).String()
	}
	for _, tg := range s.Tags {
		addTag(st, aws.ToString(tg.Key), aws.ToString(tg.Value))
	}
	attr, err := client.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{
		SnapshotId: aws.String(t.id), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
	})
	if apiCode(err) == "InvalidSnapshot.NotFound" {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe snapshot attribute: %w", err)
	}
	for _, p := range attr.CreateVolumePermissions {
		if p.Group == ec2types.PermissionGroupAll {
			d.SharedWith = append(d.SharedWith, shareAll)
		}
		if p.UserId != nil {
			d.SharedWith = append(d.SharedWith, aws.ToString(p.UserId))
		}
	}
	return finishShare(st, t.finding, d)
}

func (r *Reader) readImage(ctx context.Context, t readTarget, st *State) error {
	client := ec2.NewFromConfig(t.cfg)
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{t.id}})
	// A deregistered AMI is reported as an empty list, not an error.
	if isImageGone(apiCode(err)) || (err == nil && len(out.Images) == 0) {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe image: %w", err)
	}
	img := out.Images[0]
	d := ShareDetail{Name: aws.ToString(img.Name), Description: aws.ToString(img.Description)}
	if ts, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate)); err == nil {
		d.CreatedAt = ts
	}
	for _, bd := range img.BlockDeviceMappings {
		if bd.Ebs == nil {
			continue
		}
		d.SizeGiB += int(aws.ToInt32(bd.Ebs.VolumeSize))
		if aws.ToBool(bd.Ebs.Encrypted) {
			d.Encrypted = true
			if d.KMSKeyID == "" {
				d.KMSKeyID = aws.ToString(bd.Ebs.KmsKeyId)
			}
		}
	}
	if st.ARN == "" {
		st.ARN = awsarn.EC2Image(awsarn.PartitionAWS, st.Region, t.id).String()
	}
	for _, tg := range img.Tags {
		addTag(st, aws.ToString(tg.Key), aws.ToString(tg.Value))
	}
	attr, err := client.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{
		ImageId: aws.String(t.id), Attribute: ec2types.ImageAttributeNameLaunchPermission,
	})
	if isImageGone(apiCode(err)) {
		gone(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe image attribute: %w", err)
	}
	for _, p := range attr.LaunchPermissions {
		switch {
		case p.Group == ec2types.PermissionGroupAll:
			d.SharedWith = append(d.SharedWith, shareAll)
		case p.UserId != nil:
			d.SharedWith = append(d.SharedWith, aws.ToString(p.UserId))
		case p.OrganizationArn != nil:
			d.SharedWith = append(d.SharedWith, aws.ToString(p.OrganizationArn))
		case p.OrganizationalUnitArn != nil:
			d.SharedWith = append(d.SharedWith, aws.ToString(p.OrganizationalUnitArn))
		}
	}
	return finishShare(st, t.finding, d)
}

func isImageGone(code string) bool {
	return code == "InvalidAMIID.NotFound" || code == "InvalidAMIID.Unavailable"
}

// finishShare sorts the share list, decides exposure and stores the detail.
func finishShare(st *State, f finding.Finding, d ShareDetail) error {
	slices.Sort(d.SharedWith)
	d.SharedWith = slices.Compact(d.SharedWith)
	if d.SharedWith == nil {
		d.SharedWith = []string{}
	}
	st.Exposed, st.Reason = shareVerdict(d.SharedWith, f.UnknownTargets())
	return setDetail(st, d)
}

// shareVerdict: a share is an exposure when it is with everyone, or with
// an account the finding classed as unknown. Shares with our own or trusted
// accounts are not.
func shareVerdict(shared []string, unknown []finding.Target) (bool, string) {
	if slices.Contains(shared, shareAll) {
		return true, "shared with everyone (all)"
	}
	var still, removed []string
	for _, t := range unknown {
		if t.Account == "" || t.Account == shareAll {
			continue
		}
		if slices.Contains(shared, t.Account) {
			still = append(still, t.Account)
		} else {
			removed = append(removed, t.Account)
		}
	}
	switch {
	case len(still) > 0:
		return true, "shared with unknown account " + strings.Join(still, ", ")
	case len(removed) > 0 && len(shared) > 0:
		return false, "no longer shared with " + strings.Join(removed, ", ") + "; still shared with " + strings.Join(shared, ", ")
	case len(removed) > 0:
		return false, "no longer shared with " + strings.Join(removed, ", ")
	case len(shared) > 0:
		return false, "shared only with " + strings.Join(shared, ", ")
	default:
		return false, "not shared"
	}
}

func addTag(st *State, k, v string) {
	if st.Tags == nil {
		st.Tags = map[string]string{}
	}
	st.Tags[k] = v
}
