package awsfake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// RDSSnapshot is a DB snapshot or DB cluster snapshot in the RDS fake.
type RDSSnapshot struct {
	ID      string
	Cluster bool   // a DB cluster snapshot
	Source  string // DBInstanceIdentifier, or DBClusterIdentifier for a cluster snapshot
	Region  string // us-east-1 unless set
	Engine  string
	// Encrypted snapshots cannot be shared with "all".
	Encrypted bool
	KMSKeyID  string
	// SizeGiB is the allocated storage.
	SizeGiB int
	Created time.Time
	Tags    map[string]string
	// SharedWith is the restore attribute: account IDs or "all".
	SharedWith []string
}

// ARN is the snapshot's ARN in an account.
func (s RDSSnapshot) ARN(account string) string {
	kind := "snapshot"
	if s.Cluster {
		kind = "cluster-snapshot"
	}
	return fmt.Sprintf("arn:aws:rds:%s:%s:%s:%s", s.Region, account, kind, s.ID)
}

// RDS fakes the RDS snapshot APIs, per account.
type RDS struct {
	clk clock.Clock

	mu    sync.Mutex
	snaps map[string]*RDSSnapshot // account + "/" + id
}

// NewRDS returns an RDS fake with no snapshots.
func NewRDS(clk clock.Clock) *RDS {
	if clk == nil {
		clk = clock.Real{}
	}
	return &RDS{clk: clk, snaps: map[string]*RDSSnapshot{}}
}

func rdsKey(account string, cluster bool, id string) string {
	if cluster {
		return account + "/cluster/" + id
	}
	return account + "/db/" + id
}

// AddSnapshot seeds a snapshot in an account.
func (f *RDS) AddSnapshot(account string, s RDSSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if s.Created.IsZero() {
		s.Created = f.clk.Now()
	}
	s.Tags = cloneMap(s.Tags)
	s.SharedWith = slices.Clone(s.SharedWith)
	f.snaps[rdsKey(account, s.Cluster, s.ID)] = &s
}

// Snapshot returns a copy of a snapshot.
func (f *RDS) Snapshot(account string, cluster bool, id string) (RDSSnapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.snaps[rdsKey(account, cluster, id)]
	if !ok {
		return RDSSnapshot{}, false
	}
	c := *s
	c.Tags, c.SharedWith = cloneMap(s.Tags), slices.Clone(s.SharedWith)
	return c, true
}

// DeleteSnapshot removes a snapshot, as if someone deleted it.
func (f *RDS) DeleteSnapshot(account string, cluster bool, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snaps, rdsKey(account, cluster, id))
}

type rdsTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type rdsSnapshotXML struct {
	DBSnapshotIdentifier   string   `xml:"DBSnapshotIdentifier"`
	DBInstanceIdentifier   string   `xml:"DBInstanceIdentifier"`
	SnapshotCreateTime     string   `xml:"SnapshotCreateTime"`
	Engine                 string   `xml:"Engine,omitempty"`
	Status                 string   `xml:"Status"`
	SnapshotType           string   `xml:"SnapshotType"`
	Encrypted              bool     `xml:"Encrypted"`
	KmsKeyID               string   `xml:"KmsKeyId,omitempty"`
	AllocatedStorage       int      `xml:"AllocatedStorage,omitempty"`
	DBSnapshotArn          string   `xml:"DBSnapshotArn"`
	TagList                []rdsTag `xml:"TagList>Tag"`
	OriginalSnapshotCreate string   `xml:"OriginalSnapshotCreateTime"`
}

type rdsClusterSnapshotXML struct {
	DBClusterSnapshotIdentifier string   `xml:"DBClusterSnapshotIdentifier"`
	DBClusterIdentifier         string   `xml:"DBClusterIdentifier"`
	SnapshotCreateTime          string   `xml:"SnapshotCreateTime"`
	Engine                      string   `xml:"Engine,omitempty"`
	Status                      string   `xml:"Status"`
	SnapshotType                string   `xml:"SnapshotType"`
	StorageEncrypted            bool     `xml:"StorageEncrypted"`
	KmsKeyID                    string   `xml:"KmsKeyId,omitempty"`
	AllocatedStorage            int      `xml:"AllocatedStorage,omitempty"`
	DBClusterSnapshotArn        string   `xml:"DBClusterSnapshotArn"`
	TagList                     []rdsTag `xml:"TagList>Tag"`
}

type rdsAttribute struct {
	AttributeName   string   `xml:"AttributeName"`
	AttributeValues []string `xml:"AttributeValues>AttributeValue"`
}

type rdsAttributesResult struct {
	DBSnapshotIdentifier string         `xml:"DBSnapshotIdentifier"`
	DBSnapshotAttributes []rdsAttribute `xml:"DBSnapshotAttributes>DBSnapshotAttribute"`
}

type rdsClusterAttributesResult struct {
	DBClusterSnapshotIdentifier string         `xml:"DBClusterSnapshotIdentifier"`
	DBClusterSnapshotAttributes []rdsAttribute `xml:"DBClusterSnapshotAttributes>DBClusterSnapshotAttribute"`
}

func (f *RDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, err := Form(r)
	if err != nil {
		WriteError(w, "rds", http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	acct := CallerOf(r).Account
	action := form.Get("Action")
	cluster := strings.Contains(action, "DBCluster")
	idParam := "DBSnapshotIdentifier"
	if cluster {
		idParam = "DBClusterSnapshotIdentifier"
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	find := func(id string) (*RDSSnapshot, bool) {
		s, ok := f.snaps[rdsKey(acct, cluster, id)]
		if !ok {
			if cluster {
				WriteError(w, "rds", http.StatusNotFound, "DBClusterSnapshotNotFoundFault", fmt.Sprintf("DBClusterSnapshot %s not found.", id))
			} else {
				WriteError(w, "rds", http.StatusNotFound, "DBSnapshotNotFound", fmt.Sprintf("DBSnapshot %s not found.", id))
			}
		}
		return s, ok
	}

	switch action {
	case "DescribeDBSnapshots", "DescribeDBClusterSnapshots":
		var list []*RDSSnapshot
		if id := form.Get(idParam); id != "" {
			s, ok := find(id)
			if !ok {
				return
			}
			list = append(list, s)
		} else {
			source := form.Get("DBInstanceIdentifier")
			if cluster {
				source = form.Get("DBClusterIdentifier")
			}
			prefix := rdsKey(acct, cluster, "")
			for _, k := range sortedKeys(f.snaps) {
				s := f.snaps[k]
				if strings.HasPrefix(k, prefix) && (source == "" || s.Source == source) {
					list = append(list, s)
				}
			}
		}
		if cluster {
			out := make([]rdsClusterSnapshotXML, 0, len(list))
			for _, s := range list {
				out = append(out, rdsClusterSnapshotXML{
					DBClusterSnapshotIdentifier: s.ID, DBClusterIdentifier: s.Source, SnapshotCreateTime: isoTime(s.Created),
					Engine: s.Engine, Status: "available", SnapshotType: "manual", StorageEncrypted: s.Encrypted,
					KmsKeyID: s.KMSKeyID, AllocatedStorage: s.SizeGiB, DBClusterSnapshotArn: s.ARN(acct), TagList: rdsTags(s.Tags),
				})
			}
			WriteQuery(w, nsRDS, action, struct {
				Snapshots []rdsClusterSnapshotXML `xml:"DBClusterSnapshots>DBClusterSnapshot"`
			}{out})
			return
		}
		out := make([]rdsSnapshotXML, 0, len(list))
		for _, s := range list {
			out = append(out, rdsSnapshotXML{
				DBSnapshotIdentifier: s.ID, DBInstanceIdentifier: s.Source, SnapshotCreateTime: isoTime(s.Created),
				Engine: s.Engine, Status: "available", SnapshotType: "manual", Encrypted: s.Encrypted,
				KmsKeyID: s.KMSKeyID, AllocatedStorage: s.SizeGiB, DBSnapshotArn: s.ARN(acct), TagList: rdsTags(s.Tags),
				OriginalSnapshotCreate: isoTime(s.Created),
			})
		}
		WriteQuery(w, nsRDS, action, struct {
			Snapshots []rdsSnapshotXML `xml:"DBSnapshots>DBSnapshot"`
		}{out})
	case "DescribeDBSnapshotAttributes", "DescribeDBClusterSnapshotAttributes":
		if s, ok := find(form.Get(idParam)); ok {
			writeRDSAttributes(w, action, s)
		}
	case "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute":
		s, ok := find(form.Get(idParam))
		if !ok {
			return
		}
		if form.Get("AttributeName") != "restore" {
			WriteError(w, "rds", http.StatusBadRequest, "InvalidParameterValue", "only the restore attribute can be modified")
			return
		}
		add := indexed(form, "ValuesToAdd.AttributeValue", "")
		remove := indexed(form, "ValuesToRemove.AttributeValue", "")
		if s.Encrypted && slices.Contains(add, "all") {
			WriteError(w, "rds", http.StatusBadRequest, "InvalidParameterValue", "Encrypted snapshots cannot be shared publicly.")
			return
		}
		s.SharedWith = applyShares(s.SharedWith, add, remove)
		writeRDSAttributes(w, action, s)
	case "ListTagsForResource":
		arn := form.Get("ResourceName")
		for k, s := range f.snaps {
			if strings.HasPrefix(k, acct+"/") && s.ARN(acct) == arn {
				WriteQuery(w, nsRDS, action, struct {
					TagList []rdsTag `xml:"TagList>Tag"`
				}{rdsTags(s.Tags)})
				return
			}
		}
		WriteError(w, "rds", http.StatusNotFound, "DBSnapshotNotFound", fmt.Sprintf("resource %s not found.", arn))
	default:
		WriteError(w, "rds", http.StatusBadRequest, "InvalidAction", "unsupported action "+action)
	}
}

func writeRDSAttributes(w http.ResponseWriter, action string, s *RDSSnapshot) {
	attr := []rdsAttribute{{AttributeName: "restore", AttributeValues: slices.Clone(s.SharedWith)}}
	if s.Cluster {
		WriteQuery(w, nsRDS, action, struct {
			Res rdsClusterAttributesResult `xml:"DBClusterSnapshotAttributesResult"`
		}{rdsClusterAttributesResult{DBClusterSnapshotIdentifier: s.ID, DBClusterSnapshotAttributes: attr}})
		return
	}
	WriteQuery(w, nsRDS, action, struct {
		Res rdsAttributesResult `xml:"DBSnapshotAttributesResult"`
	}{rdsAttributesResult{DBSnapshotIdentifier: s.ID, DBSnapshotAttributes: attr}})
}

func rdsTags(m map[string]string) []rdsTag {
	out := make([]rdsTag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, rdsTag{Key: k, Value: m[k]})
	}
	return out
}
