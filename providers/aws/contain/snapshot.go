package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// shareState is who a snapshot or image is shared with: account IDs, "all",
// or (AMIs) organisation and OU ARNs.
type shareState struct {
	SharedWith []string `json:"shared_with"`
	// Remove is what the action would remove now.
	Remove []string `json:"-"`
}

func (s shareState) json() json.RawMessage {
	if s.SharedWith == nil {
		s.SharedWith = []string{}
	}
	return mustJSON(s)
}

func (s shareState) String() string {
	if len(s.SharedWith) == 0 {
		return "shared with nobody"
	}
	return "shared with " + strings.Join(s.SharedWith, ", ")
}

type unshareRunner struct{ p *Provider }

// attr names the call pair and attribute of each snapshot kind.
type shareAPI struct {
	describe, modify string
	attribute        string
}

func shareAPIOf(typ string) (shareAPI, error) {
	switch typ {
	case awsarn.TypeRDSSnapshot:
		return shareAPI{"rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute", "restore"}, nil
	case awsarn.TypeRDSClusterSnapshot:
		return shareAPI{"rds:DescribeDBClusterSnapshotAttributes", "rds:ModifyDBClusterSnapshotAttribute", "restore"}, nil
	case awsarn.TypeEC2Snapshot:
		return shareAPI{"ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute", "createVolumePermission"}, nil
	case awsarn.TypeEC2Image:
		return shareAPI{"ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute", "launchPermission"}, nil
	}
	return shareAPI{}, fmt.Errorf("snapshot-unshare cannot act on %s: %w", typ, containment.ErrNotApplicable)
}

func (r unshareRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	api, err := shareAPIOf(t.Type)
	if err != nil {
		return nil, err
	}
	var shared []string
	switch t.Type {
	case awsarn.TypeRDSSnapshot:
		out, err := rds.NewFromConfig(c).DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String(t.ID)})
		if err != nil {
			return nil, awsErr(api.describe, t.AccountID, err)
		}
		if res := out.DBSnapshotAttributesResult; res != nil {
			for _, a := range res.DBSnapshotAttributes {
				if aws.ToString(a.AttributeName) == "restore" {
					shared = append(shared, a.AttributeValues...)
				}
			}
		}
	case awsarn.TypeRDSClusterSnapshot:
		out, err := rds.NewFromConfig(c).DescribeDBClusterSnapshotAttributes(ctx, &rds.DescribeDBClusterSnapshotAttributesInput{DBClusterSnapshotIdentifier: aws.String(t.ID)})
		if err != nil {
			return nil, awsErr(api.describe, t.AccountID, err)
		}
		if res := out.DBClusterSnapshotAttributesResult; res != nil {
			for _, a := range res.DBClusterSnapshotAttributes {
				if aws.ToString(a.AttributeName) == "restore" {
					shared = append(shared, a.AttributeValues...)
				}
			}
		}
	case awsarn.TypeEC2Snapshot:
		out, err := ec2.NewFromConfig(c).DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{
			SnapshotId: aws.String(t.ID), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		})
		if err != nil {
			return nil, awsErr(api.describe, t.AccountID, err)
		}
		for _, p := range out.CreateVolumePermissions {
			shared = append(shared, permissionValue(aws.ToString(p.UserId), string(p.Group), "", ""))
		}
	case awsarn.TypeEC2Image:
		out, err := ec2.NewFromConfig(c).DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{
			ImageId: aws.String(t.ID), Attribute: ec2types.ImageAttributeNameLaunchPermission,
		})
		if err != nil {
			return nil, awsErr(api.describe, t.AccountID, err)
		}
		for _, p := range out.LaunchPermissions {
			shared = append(shared, permissionValue(aws.ToString(p.UserId), string(p.Group), aws.ToString(p.OrganizationArn), aws.ToString(p.OrganizationalUnitArn)))
		}
	}
	shared = slices.DeleteFunc(shared, func(v string) bool { return v == "" })
	s := shareState{SharedWith: shared}
	for _, v := range shared {
		// No accounts named means every share goes; otherwise only the
		// named ones, so known partners keep access.
		if len(t.Accounts) == 0 || slices.Contains(t.Accounts, v) {
			s.Remove = append(s.Remove, v)
		}
	}
	return s, nil
}

func permissionValue(user, group, org, ou string) string {
	switch {
	case group != "":
		return group
	case user != "":
		return user
	case org != "":
		return org
	}
	return ou
}

func (r unshareRunner) calls(t containment.Target, values []string, remove bool) []containment.Call {
	api, _ := shareAPIOf(t.Type) // the type was checked when the state was read
	op := "add"
	if remove {
		op = "remove"
	}
	list := strings.Join(values, ", ")
	switch t.Type {
	case awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot:
		idName, valuesName := "DBSnapshotIdentifier", "ValuesToAdd"
		if t.Type == awsarn.TypeRDSClusterSnapshot {
			idName = "DBClusterSnapshotIdentifier"
		}
		if remove {
			valuesName = "ValuesToRemove"
		}
		return []containment.Call{{API: api.modify, Params: []containment.Param{
			{Name: idName, Value: t.ID}, {Name: "AttributeName", Value: "restore"}, {Name: valuesName, Value: list},
		}}}
	case awsarn.TypeEC2Snapshot:
		return []containment.Call{{API: api.modify, Params: []containment.Param{
			{Name: "SnapshotId", Value: t.ID}, {Name: "Attribute", Value: "createVolumePermission"},
			{Name: "OperationType", Value: op}, {Name: "CreateVolumePermission." + titleOp(op), Value: list},
		}}}
	default:
		return []containment.Call{{API: api.modify, Params: []containment.Param{
			{Name: "ImageId", Value: t.ID}, {Name: "Attribute", Value: "launchPermission"},
			{Name: "OperationType", Value: op}, {Name: "LaunchPermission." + titleOp(op), Value: list},
		}}}
	}
}

func titleOp(op string) string {
	if op == "add" {
		return "Add"
	}
	return "Remove"
}

func (r unshareRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(shareState)
	p := containment.Plan{Action: containment.SnapshotUnshare, Target: t, Before: s.json(), NoOp: len(s.Remove) == 0}
	if p.NoOp {
		p.Notes = []string{"The " + kindWord(t.Type) + " is not shared with any of " + accountsWord(t.Accounts) + "; nothing to remove."}
		return p
	}
	p.Calls = r.calls(t, s.Remove, true)
	if keep := len(s.SharedWith) - len(s.Remove); keep > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d other share(s) stay in place.", keep))
	}
	p.Notes = append(p.Notes, "Undo shares it with them again and needs an admin. A copy the other account already made is not affected.")
	return p
}

func kindWord(typ string) string {
	if typ == awsarn.TypeEC2Image {
		return "image"
	}
	return "snapshot"
}

func accountsWord(accts []string) string {
	if len(accts) == 0 {
		return "any account"
	}
	return strings.Join(accts, ", ")
}

func (r unshareRunner) modify(ctx context.Context, c aws.Config, t containment.Target, values []string, remove bool) error {
	api, err := shareAPIOf(t.Type)
	if err != nil {
		return err
	}
	var addVals, removeVals []string
	if remove {
		removeVals = values
	} else {
		addVals = values
	}
	switch t.Type {
	case awsarn.TypeRDSSnapshot:
		_, err = rds.NewFromConfig(c).ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{
			DBSnapshotIdentifier: aws.String(t.ID), AttributeName: aws.String("restore"), ValuesToAdd: addVals, ValuesToRemove: removeVals,
		})
	case awsarn.TypeRDSClusterSnapshot:
		_, err = rds.NewFromConfig(c).ModifyDBClusterSnapshotAttribute(ctx, &rds.ModifyDBClusterSnapshotAttributeInput{
			DBClusterSnapshotIdentifier: aws.String(t.ID), AttributeName: aws.String("restore"), ValuesToAdd: addVals, ValuesToRemove: removeVals,
		})
	case awsarn.TypeEC2Snapshot:
		perms := make([]ec2types.CreateVolumePermission, 0, len(values))
		for _, v := range values {
			if v == "all" {
				perms = append(perms, ec2types.CreateVolumePermission{Group: ec2types.PermissionGroupAll})
			} else {
				perms = append(perms, ec2types.CreateVolumePermission{UserId: aws.String(v)})
			}
		}
		mod := &ec2types.CreateVolumePermissionModifications{}
		op := ec2types.OperationTypeAdd
		if remove {
			mod.Remove, op = perms, ec2types.OperationTypeRemove
		} else {
			mod.Add = perms
		}
		_, err = ec2.NewFromConfig(c).ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId: aws.String(t.ID), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
			OperationType: op, CreateVolumePermission: mod,
		})
	case awsarn.TypeEC2Image:
		perms := make([]ec2types.LaunchPermission, 0, len(values))
		for _, v := range values {
			switch {
			case v == "all":
				perms = append(perms, ec2types.LaunchPermission{Group: ec2types.PermissionGroupAll})
			case strings.Contains(v, ":ou/"):
				perms = append(perms, ec2types.LaunchPermission{OrganizationalUnitArn: aws.String(v)})
			case strings.HasPrefix(v, "arn:"):
				perms = append(perms, ec2types.LaunchPermission{OrganizationArn: aws.String(v)})
			default:
				perms = append(perms, ec2types.LaunchPermission{UserId: aws.String(v)})
			}
		}
		mod := &ec2types.LaunchPermissionModifications{}
		op := ec2types.OperationTypeAdd
		if remove {
			mod.Remove, op = perms, ec2types.OperationTypeRemove
		} else {
			mod.Add = perms
		}
		_, err = ec2.NewFromConfig(c).ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
			ImageId: aws.String(t.ID), Attribute: aws.String("launchPermission"), OperationType: op, LaunchPermission: mod,
		})
	}
	return awsErr(api.modify, t.AccountID, err)
}

func (r unshareRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	s := st.(shareState)
	return r.calls(t, s.Remove, true), r.modify(ctx, c, t, s.Remove, true)
}

// reverse shares the snapshot again with what the run removed and is still
// gone; shares added since stay, and shares the run left that were
// removed since stay removed.
func (r unshareRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	var b, a shareState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved shares: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read shares after the run: %w", err)
	}
	cur := now.(shareState)
	var rev reversal
	for _, v := range cur.SharedWith {
		if !slices.Contains(a.SharedWith, v) {
			rev.changes = append(rev.changes, "shared with "+v+" after the run")
		}
	}
	for _, v := range a.SharedWith {
		if !slices.Contains(cur.SharedWith, v) {
			rev.changes = append(rev.changes, "no longer shared with "+v+", which the run left in place")
			rev.kept = append(rev.kept, v+" stays removed")
		}
	}
	var readd []string
	for _, v := range b.SharedWith {
		switch {
		case slices.Contains(a.SharedWith, v):
		case slices.Contains(cur.SharedWith, v):
			rev.kept = append(rev.kept, "already shared with "+v+" again")
		default:
			readd = append(readd, v)
		}
	}
	if len(readd) == 0 {
		return rev, nil
	}
	rev.did = "shared the " + kindWord(t.Type) + " again with " + strings.Join(readd, ", ")
	rev.calls = r.calls(t, readd, false)
	rev.run = func(ctx context.Context, c aws.Config) error { return r.modify(ctx, c, t, readd, false) }
	return rev, nil
}

func (r unshareRunner) summary(t containment.Target, before, after state) string {
	b, a := before.(shareState), after.(shareState)
	var gone []string
	for _, v := range b.SharedWith {
		if !slices.Contains(a.SharedWith, v) {
			gone = append(gone, v)
		}
	}
	return fmt.Sprintf("%s %s is no longer shared with %s; %s", kindWord(t.Type), t.ID, strings.Join(gone, ", "), a.String())
}
