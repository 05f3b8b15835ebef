package awsfake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// EC2Snapshot is an EBS snapshot in the EC2 fake.
type EC2Snapshot struct {
	ID          string
	VolumeID    string
	Description string
	SizeGiB     int
	// Encrypted snapshots cannot be shared with "all".
	Encrypted bool
	// KMSKeyID is the ARN of the key of an encrypted snapshot.
	KMSKeyID string
	Created  time.Time
	Tags     map[string]string
	// SharedWith is the createVolumePermission list: account IDs or "all".
	SharedWith []string
}

// EC2Image is an AMI in the EC2 fake.
type EC2Image struct {
	ID          string
	Name        string
	Description string
	// Devices are the image's EBS block devices.
	Devices []EC2ImageDevice
	Created time.Time
	Tags    map[string]string
	// SharedWith is the launchPermission list: account IDs, "all", or
	// organization / organizational unit ARNs.
	SharedWith []string
}

// EC2ImageDevice is one EBS block device of an image: the snapshot behind
// it, its size and encryption.
type EC2ImageDevice struct {
	Name       string // e.g. /dev/xvda
	SnapshotID string
	SizeGiB    int
	Encrypted  bool
	KMSKeyID   string
}

// EC2 fakes the snapshot and image sharing APIs of EC2, per account.
type EC2 struct {
	clk clock.Clock

	mu     sync.Mutex
	snaps  map[string]*EC2Snapshot // account + "/" + id
	images map[string]*EC2Image
}

// NewEC2 returns an EC2 fake with no snapshots or images.
func NewEC2(clk clock.Clock) *EC2 {
	if clk == nil {
		clk = clock.Real{}
	}
	return &EC2{clk: clk, snaps: map[string]*EC2Snapshot{}, images: map[string]*EC2Image{}}
}

// AddSnapshot seeds an EBS snapshot owned by an account.
func (f *EC2) AddSnapshot(account string, s EC2Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Created.IsZero() {
		s.Created = f.clk.Now()
	}
	s.Tags, s.SharedWith = cloneMap(s.Tags), slices.Clone(s.SharedWith)
	f.snaps[account+"/"+s.ID] = &s
}

// AddImage seeds an AMI owned by an account.
func (f *EC2) AddImage(account string, img EC2Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img.Created.IsZero() {
		img.Created = f.clk.Now()
	}
	img.Tags, img.SharedWith, img.Devices = cloneMap(img.Tags), slices.Clone(img.SharedWith), slices.Clone(img.Devices)
	f.images[account+"/"+img.ID] = &img
}

// Snapshot returns a copy of a snapshot.
func (f *EC2) Snapshot(account, id string) (EC2Snapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.snaps[account+"/"+id]
	if !ok {
		return EC2Snapshot{}, false
	}
	c := *s
	c.Tags, c.SharedWith = cloneMap(s.Tags), slices.Clone(s.SharedWith)
	return c, true
}

// Image returns a copy of an image.
func (f *EC2) Image(account, id string) (EC2Image, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[account+"/"+id]
	if !ok {
		return EC2Image{}, false
	}
	c := *img
	c.Tags, c.SharedWith = cloneMap(img.Tags), slices.Clone(img.SharedWith)
	return c, true
}

// DeleteSnapshot removes a snapshot; DeleteImage deregisters an image.
func (f *EC2) DeleteSnapshot(account, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snaps, account+"/"+id)
}

// DeleteImage deregisters an image.
func (f *EC2) DeleteImage(account, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, account+"/"+id)
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2Permission struct {
	Group                 string `xml:"group,omitempty"`
	UserID                string `xml:"userId,omitempty"`
	OrganizationArn       string `xml:"organizationArn,omitempty"`
	OrganizationalUnitArn string `xml:"organizationalUnitArn,omitempty"`
}

type ec2SnapshotXML struct {
	SnapshotID  string   `xml:"snapshotId"`
	VolumeID    string   `xml:"volumeId"`
	Status      string   `xml:"status"`
	StartTime   string   `xml:"startTime"`
	Progress    string   `xml:"progress"`
	OwnerID     string   `xml:"ownerId"`
	VolumeSize  int      `xml:"volumeSize"`
	Description string   `xml:"description"`
	Encrypted   bool     `xml:"encrypted"`
	KmsKeyID    string   `xml:"kmsKeyId,omitempty"`
	TagSet      []ec2Tag `xml:"tagSet>item"`
}

type ec2BlockDeviceXML struct {
	DeviceName string `xml:"deviceName"`
	Ebs        struct {
		SnapshotID string `xml:"snapshotId,omitempty"`
		VolumeSize int    `xml:"volumeSize,omitempty"`
		Encrypted  bool   `xml:"encrypted"`
		KmsKeyID   string `xml:"kmsKeyId,omitempty"`
	} `xml:"ebs"`
}

type ec2ImageXML struct {
	ImageID      string              `xml:"imageId"`
	ImageState   string              `xml:"imageState"`
	ImageOwnerID string              `xml:"imageOwnerId"`
	CreationDate string              `xml:"creationDate"`
	IsPublic     bool                `xml:"isPublic"`
	ImageType    string              `xml:"imageType"`
	Name         string              `xml:"name"`
	Description  string              `xml:"description"`
	Devices      []ec2BlockDeviceXML `xml:"blockDeviceMapping>item"`
	TagSet       []ec2Tag            `xml:"tagSet>item"`
}

func (f *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, err := Form(r)
	if err != nil {
		WriteError(w, "ec2", http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	acct := CallerOf(r).Account
	action := form.Get("Action")

	f.mu.Lock()
	defer f.mu.Unlock()
	snap := func(id string) (*EC2Snapshot, bool) {
		s, ok := f.snaps[acct+"/"+id]
		if !ok {
			WriteError(w, "ec2", http.StatusBadRequest, "InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
		}
		return s, ok
	}
	image := func(id string) (*EC2Image, bool) {
		img, ok := f.images[acct+"/"+id]
		if !ok {
			WriteError(w, "ec2", http.StatusBadRequest, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
		}
		return img, ok
	}

	switch action {
	case "DescribeSnapshots":
		ids := indexed(form, "SnapshotId", "")
		var out []ec2SnapshotXML
		for _, id := range ids {
			s, ok := snap(id)
			if !ok {
				return
			}
			out = append(out, f.snapshotXML(acct, s))
		}
		if len(ids) == 0 {
			for _, k := range sortedKeys(f.snaps) {
				if strings.HasPrefix(k, acct+"/") {
					out = append(out, f.snapshotXML(acct, f.snaps[k]))
				}
			}
		}
		WriteEC2(w, action, struct {
			RequestID string           `xml:"requestId"`
			Snapshots []ec2SnapshotXML `xml:"snapshotSet>item"`
		}{"fake-request", out})
	case "DescribeImages":
		ids := indexed(form, "ImageId", "")
		var out []ec2ImageXML
		for _, id := range ids {
			img, ok := image(id)
			if !ok {
				return
			}
			out = append(out, imageXML(acct, img))
		}
		if len(ids) == 0 {
			for _, k := range sortedKeys(f.images) {
				if strings.HasPrefix(k, acct+"/") {
					out = append(out, imageXML(acct, f.images[k]))
				}
			}
		}
		WriteEC2(w, action, struct {
			RequestID string        `xml:"requestId"`
			Images    []ec2ImageXML `xml:"imagesSet>item"`
		}{"fake-request", out})
	case "DescribeSnapshotAttribute":
		s, ok := snap(form.Get("SnapshotId"))
		if !ok {
			return
		}
		if form.Get("Attribute") != "createVolumePermission" {
			WriteError(w, "ec2", http.StatusBadRequest, "InvalidParameterValue", "unsupported attribute "+form.Get("Attribute"))
			return
		}
		WriteEC2(w, action, struct {
			RequestID   string          `xml:"requestId"`
			SnapshotID  string          `xml:"snapshotId"`
			Permissions []ec2Permission `xml:"createVolumePermission>item"`
		}{"fake-request", s.ID, permissions(s.SharedWith)})
	case "DescribeImageAttribute":
		img, ok := image(form.Get("ImageId"))
		if !ok {
			return
		}
		if form.Get("Attribute") != "launchPermission" {
			WriteError(w, "ec2", http.StatusBadRequest, "InvalidParameterValue", "unsupported attribute "+form.Get("Attribute"))
			return
		}
		WriteEC2(w, action, struct {
			RequestID   string          `xml:"requestId"`
			ImageID     string          `xml:"imageId"`
			Permissions []ec2Permission `xml:"launchPermission>item"`
		}{"fake-request", img.ID, permissions(img.SharedWith)})
	case "ModifySnapshotAttribute":
		s, ok := snap(form.Get("SnapshotId"))
		if !ok {
			return
		}
		add, remove := permissionChanges(form, "CreateVolumePermission")
		if s.Encrypted && slices.Contains(add, "all") {
			WriteError(w, "ec2", http.StatusBadRequest, "OperationNotPermitted", "Encrypted snapshots cannot be made public.")
			return
		}
		s.SharedWith = applyShares(s.SharedWith, add, remove)
		WriteEC2(w, action, struct {
			RequestID string `xml:"requestId"`
			Return    bool   `xml:"return"`
		}{"fake-request", true})
	case "ModifyImageAttribute":
		img, ok := image(form.Get("ImageId"))
		if !ok {
			return
		}
		add, remove := permissionChanges(form, "LaunchPermission")
		img.SharedWith = applyShares(img.SharedWith, add, remove)
		WriteEC2(w, action, struct {
			RequestID string `xml:"requestId"`
			Return    bool   `xml:"return"`
		}{"fake-request", true})
	default:
		WriteError(w, "ec2", http.StatusBadRequest, "InvalidAction", "unsupported action "+action)
	}
}

func (f *EC2) snapshotXML(acct string, s *EC2Snapshot) ec2SnapshotXML {
	return ec2SnapshotXML{
		SnapshotID: s.ID, VolumeID: s.VolumeID, Status: "completed", StartTime: isoTime(s.Created), Progress: "100%",
		OwnerID: acct, VolumeSize: s.SizeGiB, Description: s.Description, Encrypted: s.Encrypted, KmsKeyID: s.KMSKeyID,
		TagSet: ec2Tags(s.Tags),
	}
}

func imageXML(acct string, img *EC2Image) ec2ImageXML {
	return ec2ImageXML{
		ImageID: img.ID, ImageState: "available", ImageOwnerID: acct, CreationDate: isoTime(img.Created),
		IsPublic: slices.Contains(img.SharedWith, "all"), ImageType: "machine", Name: img.Name,
		Description: img.Description, Devices: devicesXML(img.Devices), TagSet: ec2Tags(img.Tags),
	}
}

func devicesXML(ds []EC2ImageDevice) []ec2BlockDeviceXML {
	out := make([]ec2BlockDeviceXML, 0, len(ds))
	for _, d := range ds {
		var x ec2BlockDeviceXML
		x.DeviceName = d.Name
		x.Ebs.SnapshotID, x.Ebs.VolumeSize, x.Ebs.Encrypted, x.Ebs.KmsKeyID = d.SnapshotID, d.SizeGiB, d.Encrypted, d.KMSKeyID
		out = append(out, x)
	}
	return out
}

// permissions turns a share list into EC2's permission items.
func permissions(shared []string) []ec2Permission {
	out := make([]ec2Permission, 0, len(shared))
	for _, v := range shared {
		switch {
		case v == "all":
			out = append(out, ec2Permission{Group: "all"})
		case strings.Contains(v, ":ou/"):
			out = append(out, ec2Permission{OrganizationalUnitArn: v})
		case strings.HasPrefix(v, "arn:"):
			out = append(out, ec2Permission{OrganizationArn: v})
		default:
			out = append(out, ec2Permission{UserID: v})
		}
	}
	return out
}

// permissionChanges reads both ways EC2 takes a sharing change: the
// structured <Attr>.Add.N / <Attr>.Remove.N items, and OperationType with
// UserId.N, UserGroup.N and organization lists.
func permissionChanges(form url.Values, attr string) (add, remove []string) {
	items := func(prefix string) []string {
		var out []string
		for n := 1; ; n++ {
			p := fmt.Sprintf("%s.%d.", prefix, n)
			found := false
			for _, field := range []string{"Group", "UserId", "OrganizationArn", "OrganizationalUnitArn"} {
				if v := form.Get(p + field); v != "" {
					out = append(out, v)
					found = true
				}
			}
			if !found {
				return out
			}
		}
	}
	add, remove = items(attr+".Add"), items(attr+".Remove")
	var flat []string
	for _, list := range []string{"UserId", "UserGroup", "OrganizationArn", "OrganizationalUnitArn"} {
		flat = append(flat, indexed(form, list, "")...)
	}
	switch form.Get("OperationType") {
	case "add":
		add = append(add, flat...)
	case "remove":
		remove = append(remove, flat...)
	}
	return add, remove
}

func applyShares(shared, add, remove []string) []string {
	for _, v := range add {
		if !slices.Contains(shared, v) {
			shared = append(shared, v)
		}
	}
	return slices.DeleteFunc(shared, func(v string) bool { return slices.Contains(remove, v) })
}

func ec2Tags(m map[string]string) []ec2Tag {
	out := make([]ec2Tag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, ec2Tag{Key: k, Value: m[k]})
	}
	return out
}
