// Package cloudtrail holds the CloudTrail record model shared by ingestion,
// detection and history. It imports nothing else from this module.
package cloudtrail

import (
	"encoding/json"
	"strings"
	"time"
)

// Record is one CloudTrail event with the fields the rules, enrichment and
// history use. Raw keeps the original JSON so nothing is lost for evidence.
type Record struct {
	EventVersion       string          `json:"eventVersion,omitempty"`
	EventID            string          `json:"eventID"`
	EventTime          time.Time       `json:"eventTime"`
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	EventType          string          `json:"eventType,omitempty"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress,omitempty"`
	UserAgent          string          `json:"userAgent,omitempty"`
	UserIdentity       UserIdentity    `json:"userIdentity"`
	RequestParameters  json.RawMessage `json:"requestParameters,omitempty"`
	ResponseElements   json.RawMessage `json:"responseElements,omitempty"`
	AdditionalData     json.RawMessage `json:"additionalEventData,omitempty"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestID          string          `json:"requestID,omitempty"`
	ReadOnly           *bool           `json:"readOnly,omitempty"`
	RecipientAccountID string          `json:"recipientAccountId,omitempty"`
	Resources          []Resource      `json:"resources,omitempty"`

	// Raw is the record exactly as it was read. It is read-only: the
	// decoder's string fields may share its memory.
	Raw json.RawMessage `json:"-"`
}

// UserIdentity is CloudTrail's userIdentity element.
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the session behind temporary credentials.
type SessionContext struct {
	SessionIssuer  SessionIssuer     `json:"sessionIssuer"`
	Attributes     SessionAttributes `json:"attributes"`
	SourceIdentity string            `json:"sourceIdentity,omitempty"`
}

// SessionIssuer is the role or user that issued the session.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes holds the session's creation date and MFA flag.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// Resource is an entry of the record's resources list.
type Resource struct {
	ARN       string `json:"ARN,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// Account returns the account the event happened in: the recipient account,
// falling back to the caller's account.
func (r *Record) Account() string {
	if r.RecipientAccountID != "" {
		return r.RecipientAccountID
	}
	return r.UserIdentity.AccountID
}

// Failed reports whether the call was refused or failed; such calls are
// never findings but still belong in history.
func (r *Record) Failed() bool { return r.ErrorCode != "" }

// ActorARN is the identity that persists across sessions: the IAM user ARN,
// or for an assumed-role session the role (session issuer) ARN. Baselines and
// contractor matching key on it, never on the session name.
func (r *Record) ActorARN() string {
	id := r.UserIdentity
	if id.SessionContext != nil && id.SessionContext.SessionIssuer.ARN != "" {
		return id.SessionContext.SessionIssuer.ARN
	}
	if id.ARN != "" {
		return id.ARN
	}
	if id.Type == "Root" && id.AccountID != "" {
		return "arn:aws:iam::" + id.AccountID + ":root"
	}
	if id.InvokedBy != "" {
		return id.InvokedBy
	}
	return id.PrincipalID
}

// ActorName is a short, human name for the actor: the user name, the role
// name, or the last element of the ARN.
func (r *Record) ActorName() string {
	id := r.UserIdentity
	if id.UserName != "" {
		return id.UserName
	}
	if id.SessionContext != nil && id.SessionContext.SessionIssuer.UserName != "" {
		return id.SessionContext.SessionIssuer.UserName
	}
	arn := r.ActorARN()
	if i := strings.LastIndexAny(arn, "/:"); i >= 0 && i+1 < len(arn) {
		return arn[i+1:]
	}
	return arn
}

// MFA reports whether the session behind the call was authenticated with
// MFA: "yes" or "no" from sessionContext.attributes.mfaAuthenticated, ""
// when the record does not say.
func (r *Record) MFA() string {
	sc := r.UserIdentity.SessionContext
	if sc == nil {
		return ""
	}
	switch strings.ToLower(sc.Attributes.MFAAuthenticated) {
	case "true":
		return "yes"
	case "false":
		return "no"
	}
	return ""
}

// SessionName is the role session name of an assumed-role identity, if any.
func (r *Record) SessionName() string {
	id := r.UserIdentity
	if id.Type != "AssumedRole" {
		return ""
	}
	if i := strings.LastIndexByte(id.ARN, '/'); i >= 0 {
		return id.ARN[i+1:]
	}
	return ""
}

// SourceIdentity is the sourceIdentity carried by the session, if any.
func (r *Record) SourceIdentity() string {
	if r.UserIdentity.SessionContext != nil {
		return r.UserIdentity.SessionContext.SourceIdentity
	}
	return ""
}
