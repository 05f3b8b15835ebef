package detect

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// share is one entry added to or removed from a snapshot's or image's
// permission list.
type share struct {
	// target is an account ID, an organisation or OU ARN, or "all".
	target string
	// owner is the account that decides the target's class: the account
	// itself, or the management account of an organisation ARN.
	owner  string
	public bool
}

func accountShare(v string) share {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "all") {
		return share{target: "all", public: true}
	}
	return share{target: v, owner: v}
}

// orgShare is an organisation or OU ARN, classified by the account in it
// (arn:aws:organizations::<management account>:organization/o-...).
func orgShare(arn string) share {
	a, _ := awsarn.Parse(arn)
	return share{target: arn, owner: a.Account}
}

type rdsAttribute struct {
	AttributeName   string  `json:"attributeName"`
	AttributeValues strList `json:"attributeValues"`
}

type rdsAttributes struct {
	Snapshot []rdsAttribute `json:"dBSnapshotAttributes"`
	Cluster  []rdsAttribute `json:"dBClusterSnapshotAttributes"`
}

func (e *Engine) rdsSnapshotAttribute(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "rds.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		AttributeName  string  `json:"attributeName"`
		ValuesToAdd    strList `json:"valuesToAdd"`
		ValuesToRemove strList `json:"valuesToRemove"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if !strings.EqualFold(p.AttributeName, "restore") {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	var added, removed []share
	for _, v := range p.ValuesToAdd {
		added = append(added, accountShare(v))
	}
	for _, v := range p.ValuesToRemove {
		removed = append(removed, accountShare(v))
	}
	return e.shareResults(rec, res, added, removed, rdsAfter(rec.ResponseElements)), nil
}

// rdsAfter reads the whole restore list after the call from the response,
// which RDS returns flat or wrapped in a ...Result element.
func rdsAfter(raw json.RawMessage) *finding.Change {
	if !present(raw) {
		return nil
	}
	var resp struct {
		rdsAttributes
		SnapshotResult *rdsAttributes `json:"dBSnapshotAttributesResult"`
		ClusterResult  *rdsAttributes `json:"dBClusterSnapshotAttributesResult"`
	}
	if json.Unmarshal(raw, &resp) != nil {
		return nil
	}
	attrs := append(resp.Snapshot, resp.Cluster...)
	for _, w := range []*rdsAttributes{resp.SnapshotResult, resp.ClusterResult} {
		if w != nil {
			attrs = append(attrs, w.Snapshot...)
			attrs = append(attrs, w.Cluster...)
		}
	}
	for _, a := range attrs {
		if !strings.EqualFold(a.AttributeName, "restore") {
			continue
		}
		vals := []string(a.AttributeValues)
		if vals == nil {
			vals = []string{}
		}
		after, _ := json.Marshal(vals)
		summary := "restore attribute is now empty"
		if len(vals) > 0 {
			summary = "restore attribute now lists " + strings.Join(vals, ", ")
		}
		return &finding.Change{Summary: summary, After: after}
	}
	return nil
}

type permItem struct {
	UserID                string `json:"userId"`
	Group                 string `json:"group"`
	OrganizationArn       string `json:"organizationArn"`
	OrganizationalUnitArn string `json:"organizationalUnitArn"`
}

type permList struct {
	Items oneOrMany[permItem] `json:"items"`
}

type permMods struct {
	Add    permList `json:"add"`
	Remove permList `json:"remove"`
}

func (l permList) shares() []share {
	var out []share
	for _, it := range l.Items {
		switch {
		case strings.EqualFold(it.Group, "all"):
			out = append(out, share{target: "all", public: true})
		case it.UserID != "":
			out = append(out, accountShare(it.UserID))
		case it.OrganizationArn != "":
			out = append(out, orgShare(it.OrganizationArn))
		case it.OrganizationalUnitArn != "":
			out = append(out, orgShare(it.OrganizationalUnitArn))
		}
	}
	return out
}

func (e *Engine) ec2Permission(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "ec2.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		AttributeType          string    `json:"attributeType"`
		CreateVolumePermission *permMods `json:"createVolumePermission"`
		LaunchPermission       *permMods `json:"launchPermission"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	var mods *permMods
	switch rec.EventName {
	case "ModifySnapshotAttribute":
		if p.AttributeType == "" || strings.EqualFold(p.AttributeType, "CREATE_VOLUME_PERMISSION") || strings.EqualFold(p.AttributeType, "createVolumePermission") {
			mods = p.CreateVolumePermission
		}
	case "ModifyImageAttribute":
		if p.AttributeType == "" || strings.EqualFold(p.AttributeType, "launchPermission") {
			mods = p.LaunchPermission
		}
	}
	if mods == nil {
		// Another attribute (product codes, description...) changed.
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return e.shareResults(rec, res, mods.Add.shares(), mods.Remove.shares(), nil), nil
}

// ec2PermissionReset handles ResetSnapshotAttribute and
// ResetImageAttribute, which put a snapshot's create-volume permissions or
// an image's launch permissions back to their default: shared with nobody.
// The event does not list what was removed, so both the public and the
// external share are cleared whole.
func (e *Engine) ec2PermissionReset(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "ec2.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		AttributeType string `json:"attributeType"`
		Attribute     string `json:"attribute"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	attr := strings.ToLower(strings.ReplaceAll(p.AttributeType+p.Attribute, "_", ""))
	var what string
	switch {
	case rec.EventName == "ResetSnapshotAttribute" && attr == "createvolumepermission":
		what = "create volume permissions"
	case rec.EventName == "ResetImageAttribute" && attr == "launchpermission":
		what = "launch permissions"
	default:
		// Product codes, kernel, ramdisk: no share involved.
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	n := noun(res.Type)
	change := &finding.Change{Summary: what + " reset", After: json.RawMessage("[]")}
	detail := fmt.Sprintf("The %s of %s %s were reset: it is shared with no other account.", what, n, res.ID)
	public := result(Remediation, RuleSnapshotPublic, res, n+" no longer public", detail, VectorShare)
	shared := result(Remediation, RuleSnapshotSharedExternal, res, n+" share removed", detail, VectorShare)
	out := []Result{public, shared}
	for i := range out {
		out[i].AllTargets, out[i].Change = true, change
	}
	return out, nil
}

// use says what a share target can do with the resource.
func use(typ string) string {
	switch typ {
	case awsarn.TypeEC2Snapshot:
		return "create volumes from it"
	case awsarn.TypeEC2Image:
		return "launch instances from it"
	default:
		return "copy or restore it"
	}
}

// shareResults turns added and removed share targets into results. A share
// with "all" is public; a share with any unknown account is external. Shares
// with known or trusted accounts only are not findings, but removals always
// are, so whichever finding they belong to can be cleared.
func (e *Engine) shareResults(rec *cloudtrail.Record, res finding.Resource, added, removed []share, change *finding.Change) []Result {
	n := noun(res.Type)
	var out []Result

	addedPublic, addedTargets := e.split(rec, added)
	if addedPublic {
		r := result(Exposure, RuleSnapshotPublic, res, n+" made public",
			fmt.Sprintf("%s %s was shared with \"all\": every AWS account can now %s.", n, res.ID, use(res.Type)), VectorShare)
		r.Targets = []finding.Target{{Account: "all", Class: finding.TargetPublic}}
		r.Change = change
		out = append(out, r)
	}
	if hasUnknown(addedTargets) {
		r := result(Exposure, RuleSnapshotSharedExternal, res, n+" shared with an unknown account",
			fmt.Sprintf("%s %s was shared with %s: %s can now %s.", n, res.ID, describeTargets(addedTargets), pronoun(addedTargets), use(res.Type)), VectorShare)
		r.Targets = addedTargets
		r.Change = change
		out = append(out, r)
	}

	removedPublic, removedTargets := e.split(rec, removed)
	if removedPublic {
		r := result(Remediation, RuleSnapshotPublic, res, n+" no longer public",
			fmt.Sprintf("\"all\" was removed from the permissions of %s %s.", n, res.ID), VectorShare)
		r.Targets = []finding.Target{{Account: "all", Class: finding.TargetPublic}}
		r.Change = change
		out = append(out, r)
	}
	if len(removedTargets) > 0 {
		r := result(Remediation, RuleSnapshotSharedExternal, res, n+" share removed",
			fmt.Sprintf("%s %s is no longer shared with %s.", n, res.ID, describeTargets(removedTargets)), VectorShare)
		r.Targets = removedTargets
		r.Change = change
		out = append(out, r)
	}
	return out
}

// split separates "all" from account targets and classifies the accounts.
func (e *Engine) split(rec *cloudtrail.Record, shares []share) (public bool, targets []finding.Target) {
	for _, s := range shares {
		if s.public {
			public = true
			continue
		}
		if s.target == "" {
			continue
		}
		class := finding.TargetUnknown
		if s.owner != "" {
			class = e.classify(rec, s.owner)
		}
		targets = append(targets, finding.Target{Account: s.target, Class: class})
	}
	return public, targets
}

func hasUnknown(ts []finding.Target) bool {
	for _, t := range ts {
		if t.Class == finding.TargetUnknown {
			return true
		}
	}
	return false
}

func describeTargets(ts []finding.Target) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		what := "account"
		if strings.HasPrefix(t.Account, "arn:") {
			what = "organisation"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", what, t.Account, t.Class))
	}
	return strings.Join(parts, ", ")
}

func pronoun(ts []finding.Target) string {
	if len(ts) == 1 {
		return "that account"
	}
	return "those accounts"
}
