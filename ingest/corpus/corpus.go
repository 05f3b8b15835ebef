// Package corpus generates realistic CloudTrail management events as JSON
// Lines, with a few planted exposures at known positions, so that ingestion
// and detection can be benchmarked and checked end to end without AWS.
package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/secops-bot/secops-bot/detect"
)

// Accounts owned by the organisation in the generated stories.
const (
	ProdAccount    = "111122223333"
	StagingAccount = "222233334444"
	DevAccount     = "333344445555"
	// UnknownAccount is outside the organisation; planted shares target it.
	UnknownAccount = "999988887777"
)

// Options tunes the generated stream.
type Options struct {
	// Start is the time of the first event; zero means 2024-03-05T00:00:00Z.
	Start time.Time
	// Interval is the mean gap between events; zero means 250ms.
	Interval time.Duration
	// Planted is how many exposures to plant, spread evenly through the
	// stream; zero means one of each kind, negative means none.
	Planted int
	// Actors, when positive, spreads the routine calls over that many
	// principals in Accounts accounts (at least one) instead of the six
	// actors of three accounts, as a larger organisation's trail looks.
	// The planted exposures keep their actors and accounts.
	Actors   int
	Accounts int
	// DataEvery, when positive, makes every DataEvery-th event (planted
	// ones aside) an S3 data event instead, an object read or listing as
	// a trail logging data events delivers them: 10 is one data event in
	// ten. One in 50 of them is by a caller outside the organisation
	// (anonymous, or an unknown account).
	DataEvery int
}

// Planted describes one planted exposure.
type Planted struct {
	Index    int    // zero-based line number in the output
	EventID  string // the record's eventID
	Event    string // the record's eventName
	Rule     string // the rule expected to fire
	Resource string // the exposed resource (bucket, snapshot ID, trail ARN)
	Account  string // the account the resource lives in
}

// Rule identifiers the planted events are expected to trigger; detect owns
// the IDs.
const (
	RuleS3PublicPolicy   = detect.RuleS3BucketPublic
	RuleS3PublicACL      = detect.RuleS3BucketPublic
	RuleRDSSnapshotShare = detect.RuleSnapshotSharedExternal
	RuleEBSSnapshotShare = detect.RuleSnapshotSharedExternal
	RuleTrailStopped     = detect.RuleLoggingDisabled
)

// Generate writes n JSON Lines records to w. The same seed and options always
// produce the same bytes. It returns the planted exposures in stream order.
func Generate(w io.Writer, n int, seed int64, opts Options) ([]Planted, error) {
	if n < 0 {
		return nil, fmt.Errorf("generate corpus: negative count %d", n)
	}
	g := newGenerator(seed, opts)
	kinds := plantKinds
	count := opts.Planted
	switch {
	case count == 0:
		count = len(kinds)
	case count < 0:
		count = 0
	}
	if count > n {
		count = n
	}
	at := make(map[int]int, count) // line index -> plant kind
	for i := 0; i < count; i++ {
		// Spread evenly, away from the very first line so a reader that
		// mishandles the start of a stream still has to find them.
		idx := (i*n + n/2) / count
		if idx >= n {
			idx = n - 1
		}
		at[idx] = i % len(kinds)
	}

	bw := bufio.NewWriterSize(w, 1<<16)
	var planted []Planted
	for i := 0; i < n; i++ {
		var ev event
		if k, ok := at[i]; ok {
			var p Planted
			ev, p = g.plant(kinds[k])
			p.Index = i
			planted = append(planted, p)
		} else if opts.DataEvery > 0 && i%opts.DataEvery == opts.DataEvery-1 {
			ev = g.dataRead()
		} else {
			ev = g.routine()
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("generate corpus: encode event %d: %w", i, err)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return nil, fmt.Errorf("generate corpus: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("generate corpus: write: %w", err)
	}
	return planted, nil
}

// event mirrors the CloudTrail record layout, in CloudTrail's field order.
type event struct {
	EventVersion        string      `json:"eventVersion"`
	UserIdentity        identity    `json:"userIdentity"`
	EventTime           string      `json:"eventTime"`
	EventSource         string      `json:"eventSource"`
	EventName           string      `json:"eventName"`
	AWSRegion           string      `json:"awsRegion"`
	SourceIPAddress     string      `json:"sourceIPAddress"`
	UserAgent           string      `json:"userAgent"`
	ErrorCode           string      `json:"errorCode,omitempty"`
	ErrorMessage        string      `json:"errorMessage,omitempty"`
	RequestParameters   any         `json:"requestParameters"`
	ResponseElements    any         `json:"responseElements"`
	AdditionalEventData any         `json:"additionalEventData,omitempty"`
	RequestID           string      `json:"requestID"`
	EventID             string      `json:"eventID"`
	ReadOnly            bool        `json:"readOnly"`
	Resources           []resource  `json:"resources,omitempty"`
	EventType           string      `json:"eventType"`
	ManagementEvent     bool        `json:"managementEvent"`
	RecipientAccountID  string      `json:"recipientAccountId"`
	EventCategory       string      `json:"eventCategory"`
	TLSDetails          *tlsDetails `json:"tlsDetails,omitempty"`
	SessionCredential   string      `json:"sessionCredentialFromConsole,omitempty"`
}

type identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

type sessionContext struct {
	SessionIssuer       issuer         `json:"sessionIssuer"`
	WebIDFederationData map[string]any `json:"webIdFederationData"`
	Attributes          attributes     `json:"attributes"`
	SourceIdentity      string         `json:"sourceIdentity,omitempty"`
}

type issuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

type attributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

type resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

type tlsDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}
