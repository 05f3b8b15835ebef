// Package state reads the current state of an exposed AWS resource (bucket
// policy, ACL and public access blocks; snapshot and image share lists) and
// of the IAM principal behind a change, through the member account's role.
// The state is normalised into JSON a finding can keep as its before or
// after, and carries a verdict on whether the resource is still exposed, so
// an exposure reported by an event is confirmed against AWS itself.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

// ReasonGone is the reason given for a resource that no longer exists.
const ReasonGone = "resource no longer exists"

// ErrUnsupported is returned for resource or principal types the reader
// cannot read.
var ErrUnsupported = errors.New("unsupported type")

// State is a resource's state as read from AWS.
type State struct {
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	ARN     string    `json:"arn,omitempty"`
	Account string    `json:"account"`
	Region  string    `json:"region,omitempty"`
	ReadAt  time.Time `json:"read_at"`
	// Exposed is the verdict from the state itself; Reason says why in
	// words a responder can check against the console.
	Exposed bool   `json:"exposed"`
	Reason  string `json:"reason"`
	// Gone is set when the resource no longer exists.
	Gone bool              `json:"gone,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
	// Detail is S3Detail for buckets and ShareDetail for snapshots and
	// images.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Reader reads resources and principals in member accounts.
type Reader struct {
	clients *awsclient.Clients
	clk     clock.Clock
}

// NewReader returns a reader acting through clients; clk dates the reads
// and ages access keys.
func NewReader(clients *awsclient.Clients, clk clock.Clock) *Reader {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Reader{clients: clients, clk: clk}
}

// Read returns the current state of the finding's resource. A resource that
// no longer exists is not an error: its state says so and is not exposed.
func (r *Reader) Read(ctx context.Context, f finding.Finding) (State, error) {
	res := f.Resource
	id := res.ID
	if id == "" {
		a, _ := awsarn.Parse(res.ARN)
		id = a.Name()
	}
	st := State{Type: res.Type, ID: id, ARN: res.ARN, Account: f.AccountID, Region: f.Region}
	var read func(context.Context, readTarget, *State) error
	switch res.Type {
	case awsarn.TypeS3Bucket:
		read = r.readBucket
	case awsarn.TypeRDSSnapshot:
		read = r.readDBSnapshot
	case awsarn.TypeRDSClusterSnapshot:
		read = r.readDBClusterSnapshot
	case awsarn.TypeEC2Snapshot:
		read = r.readEBSSnapshot
	case awsarn.TypeEC2Image:
		read = r.readImage
	default:
		return State{}, fmt.Errorf("read %s %s: %w %q", res.Type, id, ErrUnsupported, res.Type)
	}
	if id == "" {
		return State{}, fmt.Errorf("read %s: the finding names no resource", res.Type)
	}
	cfg, err := r.clients.For(ctx, f.AccountID)
	if err != nil {
		return State{}, fmt.Errorf("read %s %s: %w", res.Type, id, err)
	}
	if f.Region != "" {
		cfg.Region = f.Region
	}
	t := readTarget{cfg: cfg, finding: f, id: id}
	if err := read(ctx, t, &st); err != nil {
		return State{}, fmt.Errorf("read %s %s: %w", res.Type, id, err)
	}
	st.ReadAt = r.clk.Now()
	return st, nil
}

// gone marks a state as read from a resource that was deleted.
func gone(st *State) {
	st.Gone, st.Exposed, st.Reason = true, false, ReasonGone
	st.Detail, st.Tags = nil, nil
}

func setDetail(st *State, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state detail: %w", err)
	}
	st.Detail = b
	return nil
}

func lastSegment(arn string) string {
	i := strings.LastIndexAny(arn, ":/")
	return arn[i+1:]
}
