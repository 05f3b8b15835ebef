package awsfake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// AssumeRoleCall is one AssumeRole request the STS fake granted or refused.
type AssumeRoleCall struct {
	RoleARN         string
	SessionName     string
	DurationSeconds int
	ExternalID      string
	SourceIdentity  string
	Tags            map[string]string
	// Policy is the inline session policy, "" when none was passed.
	Policy string
	// Caller is who asked; AccessKeyID and Expiration are what was issued
	// (empty when refused).
	Caller      Identity
	AccessKeyID string
	Expiration  time.Time
	Refused     string // error code when refused
}

// STS fakes the Security Token Service: AssumeRole issues credentials that
// the other fakes recognise as the role's, GetCallerIdentity says who signed.
type STS struct {
	ids *Identities
	clk clock.Clock

	mu         sync.Mutex
	denied     map[string]bool
	externalID map[string]string
	maxSession map[string]int
	calls      []AssumeRoleCall
	seq        int
}

// NewSTS returns an STS fake that registers the keys it issues in ids and
// dates them with clk (the wall clock when nil).
func NewSTS(ids *Identities, clk clock.Clock) *STS {
	if clk == nil {
		clk = clock.Real{}
	}
	return &STS{ids: ids, clk: clk, denied: map[string]bool{}, externalID: map[string]string{}, maxSession: map[string]int{}}
}

// Deny makes a role impossible to assume: AssumeRole answers AccessDenied,
// as it does when the trust policy does not name the caller.
func (s *STS) Deny(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[roleARN] = true
}

// RequireExternalID makes a role assumable only with this external ID.
func (s *STS) RequireExternalID(roleARN, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.externalID[roleARN] = id
}

// SetMaxSessionDuration sets the role's maximum session (1 hour unless set).
func (s *STS) SetMaxSessionDuration(roleARN string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxSession[roleARN] = int(d / time.Second)
}

// AssumeRoleCalls returns every AssumeRole request, granted or not.
func (s *STS) AssumeRoleCalls() []AssumeRoleCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AssumeRoleCall(nil), s.calls...)
}

// MaxSessionPolicySize is the longest inline session policy AssumeRole
// accepts, in characters.
const MaxSessionPolicySize = 2048

func policyError(doc string) error {
	_, err := ParsePolicy(doc)
	return err
}

// RoleKeyPrefix is how every access key issued for a role begins, so tests
// can tell which role signed a call.
func RoleKeyPrefix(roleARN string) string {
	sum := sha256.Sum256([]byte(roleARN))
	return "ASIA" + strings.ToUpper(hex.EncodeToString(sum[:])[:10])
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumeRoleResult struct {
	Credentials     stsCredentials `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
	PackedPolicySize int    `xml:"PackedPolicySize"`
	SourceIdentity   string `xml:"SourceIdentity,omitempty"`
}

type callerIdentityResult struct {
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
	Arn     string `xml:"Arn"`
}

func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, err := Form(r)
	if err != nil {
		WriteError(w, "sts", http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	switch form.Get("Action") {
	case "AssumeRole":
		s.assumeRole(w, r, form)
	case "GetCallerIdentity":
		id := CallerOf(r)
		WriteQuery(w, nsSTS, "GetCallerIdentity", callerIdentityResult{UserID: userIDOf(id.ARN), Account: id.Account, Arn: id.ARN})
	default:
		WriteError(w, "sts", http.StatusBadRequest, "InvalidAction", "unsupported action "+form.Get("Action"))
	}
}

func (s *STS) assumeRole(w http.ResponseWriter, r *http.Request, form map[string][]string) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	call := AssumeRoleCall{
		RoleARN:         get("RoleArn"),
		SessionName:     get("RoleSessionName"),
		ExternalID:      get("ExternalId"),
		SourceIdentity:  get("SourceIdentity"),
		Policy:          get("Policy"),
		DurationSeconds: 3600,
		Caller:          CallerOf(r),
	}
	// A source identity, once set, stays with every session chained from
	// it and cannot be changed.
	parent, chained := s.ids.SessionOf(call.Caller.AccessKey)
	if chained && parent.SourceIdentity != "" && call.SourceIdentity == "" {
		call.SourceIdentity = parent.SourceIdentity
	}
	if d := get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			WriteError(w, "sts", http.StatusBadRequest, "ValidationError", "DurationSeconds is not a number")
			return
		}
		call.DurationSeconds = n
	}
	keys, vals := indexed(form, "Tags.member", "Key"), indexed(form, "Tags.member", "Value")
	if len(keys) > 0 {
		call.Tags = map[string]string{}
		for i, k := range keys {
			if i < len(vals) {
				call.Tags[k] = vals[i]
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(status int, code, msg string) {
		call.Refused = code
		s.calls = append(s.calls, call)
		WriteError(w, "sts", status, code, msg)
	}
	role := call.RoleARN
	maxSession := s.maxSession[role]
	if maxSession == 0 {
		maxSession = 3600
	}
	switch {
	case !strings.HasPrefix(role, "arn:") || accountOfARN(role) == "" || !strings.Contains(role, ":role/"):
		refuse(http.StatusBadRequest, "ValidationError", "invalid role ARN "+role)
	case call.SessionName == "":
		refuse(http.StatusBadRequest, "ValidationError", "RoleSessionName is required")
	case call.DurationSeconds < 900 || call.DurationSeconds > 43200:
		refuse(http.StatusBadRequest, "ValidationError", "DurationSeconds must be between 900 and 43200")
	case call.DurationSeconds > maxSession:
		refuse(http.StatusBadRequest, "ValidationError", fmt.Sprintf("The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d)", maxSession))
	case len(call.Policy) > MaxSessionPolicySize:
		refuse(http.StatusBadRequest, "PackedPolicyTooLarge", fmt.Sprintf("Packed policy consumes %d%% of allotted space, please use smaller policy for session.", 100*len(call.Policy)/MaxSessionPolicySize))
	case call.Policy != "" && policyError(call.Policy) != nil:
		refuse(http.StatusBadRequest, "MalformedPolicyDocument", policyError(call.Policy).Error())
	case chained && parent.SourceIdentity != "" && call.SourceIdentity != parent.SourceIdentity:
		refuse(http.StatusForbidden, "AccessDenied", fmt.Sprintf("the source identity %s of the calling session cannot be changed to %s", parent.SourceIdentity, call.SourceIdentity))
	case s.denied[role]:
		refuse(http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", call.Caller.ARN, role))
	case s.externalID[role] != "" && s.externalID[role] != call.ExternalID:
		refuse(http.StatusForbidden, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", call.Caller.ARN, role))
	default:
		s.seq++
		call.AccessKeyID = fmt.Sprintf("%s%06d", RoleKeyPrefix(role), s.seq%1000000)
		call.Expiration = s.clk.Now().Add(time.Duration(call.DurationSeconds) * time.Second).Truncate(time.Second)
		roleName := role[strings.LastIndex(role, "/")+1:]
		sessionARN := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", accountOfARN(role), roleName, call.SessionName)
		// The policy was checked above, so the session is always added.
		_ = s.ids.AddSession(call.AccessKeyID, Session{ARN: sessionARN, Role: role, Policy: call.Policy, SourceIdentity: call.SourceIdentity, Tags: call.Tags})
		s.calls = append(s.calls, call)

		var res assumeRoleResult
		res.Credentials = stsCredentials{
			AccessKeyID:     call.AccessKeyID,
			SecretAccessKey: "secret-" + call.AccessKeyID,
			SessionToken:    "token-" + call.AccessKeyID,
			Expiration:      isoTime(call.Expiration),
		}
		res.AssumedRoleUser.Arn = sessionARN
		res.AssumedRoleUser.AssumedRoleID = "AROA" + RoleKeyPrefix(role)[4:] + ":" + call.SessionName
		res.SourceIdentity = call.SourceIdentity
		res.PackedPolicySize = 100 * len(call.Policy) / MaxSessionPolicySize
		WriteQuery(w, nsSTS, "AssumeRole", res)
	}
}

// userIDOf makes a stable unique ID for a principal, shaped like AWS's
// (AIDA… for users, AROA…:session for role sessions).
func userIDOf(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	id := strings.ToUpper(hex.EncodeToString(sum[:])[:17])
	if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
		parts := strings.Split(arn[i+len(":assumed-role/"):], "/")
		return "AROA" + id + ":" + parts[len(parts)-1]
	}
	return "AIDA" + id
}
