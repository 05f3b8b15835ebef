package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// KMSKey is a key in the KMS fake.
type KMSKey struct {
	ID     string // a key ID such as 1234abcd-12ab-34cd-56ef-1234567890ab
	Region string // us-east-1 unless set
	// Manager is AWS for AWS-managed keys (aws/rds, aws/ebs) and CUSTOMER
	// otherwise (the default).
	Manager string
	// Alias is the key's alias without "alias/" (aws/rds), if any.
	Alias       string
	Description string
	// Policy is the key policy document ("default"); an empty policy reads
	// as the account-root policy KMS creates by default.
	Policy string
	Grants []KMSGrant
}

// ARN is the key's ARN in an account.
func (k KMSKey) ARN(account string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", k.Region, account, k.ID)
}

// KMSGrant is a grant on a key.
type KMSGrant struct {
	ID                string
	Name              string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	IssuingAccount    string
	Created           time.Time
}

// KMS fakes the KMS key reads and the key policy and grant changes, per
// account, over JSON 1.1 (X-Amz-Target TrentService.*). Register it with
// Server.Handle("kms", k).
type KMS struct {
	clk clock.Clock

	mu     sync.Mutex
	keys   map[string]*KMSKey // account + "/" + region + "/" + id
	grants int
}

// NewKMS returns a KMS fake with no keys.
func NewKMS(clk clock.Clock) *KMS {
	if clk == nil {
		clk = clock.Real{}
	}
	return &KMS{clk: clk, keys: map[string]*KMSKey{}}
}

// DefaultKeyPolicy is the policy KMS gives a key created without one: the
// account may use and manage it through IAM.
func DefaultKeyPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

// AddKey seeds a key in an account.
func (f *KMS) AddKey(account string, k KMSKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k.Region == "" {
		k.Region = "us-east-1"
	}
	if k.Manager == "" {
		k.Manager = "CUSTOMER"
	}
	if k.Policy == "" {
		k.Policy = DefaultKeyPolicy(account)
	}
	k.Grants = slices.Clone(k.Grants)
	for i := range k.Grants {
		if k.Grants[i].IssuingAccount == "" {
			k.Grants[i].IssuingAccount = "arn:aws:iam::" + account + ":root"
		}
		if k.Grants[i].Created.IsZero() {
			k.Grants[i].Created = f.clk.Now()
		}
	}
	f.keys[account+"/"+k.Region+"/"+k.ID] = &k
}

// Key returns a copy of a key.
func (f *KMS) Key(account, region, id string) (KMSKey, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[account+"/"+region+"/"+id]
	if !ok {
		return KMSKey{}, false
	}
	c := *k
	c.Grants = slices.Clone(k.Grants)
	return c, true
}

// resolve finds the key a KeyId names in the caller's account and region:
// a key ID, a key ARN, an alias name (alias/aws/rds) or an alias ARN.
func (f *KMS) resolve(account, region, keyID string) (*KMSKey, bool) {
	if strings.HasPrefix(keyID, "arn:") {
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[4] != account {
			return nil, false
		}
		region, keyID = parts[3], parts[5]
		keyID = strings.TrimPrefix(keyID, "key/")
	}
	if alias, ok := strings.CutPrefix(keyID, "alias/"); ok {
		for k, key := range f.keys {
			if strings.HasPrefix(k, account+"/"+region+"/") && key.Alias == alias {
				return key, true
			}
		}
		return nil, false
	}
	k, ok := f.keys[account+"/"+region+"/"+keyID]
	return k, ok
}

// kmsKeyARN is the ARN a KeyId names, for permission checks: the key's
// ARN in the caller's account and region.
func kmsKeyARN(account, region, keyID string) string {
	if strings.HasPrefix(keyID, "arn:") {
		return keyID
	}
	if keyID == "" {
		return "*"
	}
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, account, keyID)
}

type kmsGrantJSON struct {
	GrantID           string   `json:"GrantId"`
	Name              string   `json:"Name,omitempty"`
	GranteePrincipal  string   `json:"GranteePrincipal,omitempty"`
	RetiringPrincipal string   `json:"RetiringPrincipal,omitempty"`
	Operations        []string `json:"Operations"`
	IssuingAccount    string   `json:"IssuingAccount,omitempty"`
	KeyID             string   `json:"KeyId"`
	CreationDate      float64  `json:"CreationDate"`
}

func (f *KMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := ActionOf("kms", r)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteError(w, "kms", http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	var in struct {
		KeyID             string   `json:"KeyId"`
		PolicyName        string   `json:"PolicyName"`
		Policy            string   `json:"Policy"`
		GrantID           string   `json:"GrantId"`
		GranteePrincipal  string   `json:"GranteePrincipal"`
		RetiringPrincipal string   `json:"RetiringPrincipal"`
		Operations        []string `json:"Operations"`
		Name              string   `json:"Name"`
		Limit             int      `json:"Limit"`
		Marker            string   `json:"Marker"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			WriteError(w, "kms", http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}
	acct, region := CallerOf(r).Account, RegionOf(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.resolve(acct, region, in.KeyID)
	if !ok {
		WriteError(w, "kms", http.StatusBadRequest, "NotFoundException", fmt.Sprintf("Key '%s' does not exist", kmsKeyARN(acct, region, in.KeyID)))
		return
	}
	switch action {
	case "DescribeKey":
		WriteJSON(w, map[string]any{"KeyMetadata": map[string]any{
			"AWSAccountId": acct, "KeyId": k.ID, "Arn": k.ARN(acct), "KeyManager": k.Manager, "KeyState": "Enabled",
			"Enabled": true, "Description": k.Description, "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
			"Origin": "AWS_KMS", "CreationDate": float64(f.clk.Now().Unix()),
		}})
	case "GetKeyPolicy":
		if in.PolicyName != "" && in.PolicyName != "default" {
			WriteError(w, "kms", http.StatusBadRequest, "NotFoundException", "No such policy exists")
			return
		}
		WriteJSON(w, map[string]any{"Policy": k.Policy, "PolicyName": "default"})
	case "PutKeyPolicy":
		if k.Manager == "AWS" {
			WriteError(w, "kms", http.StatusBadRequest, "AccessDeniedException", "You cannot change the policy of an AWS managed key")
			return
		}
		if !json.Valid([]byte(in.Policy)) {
			WriteError(w, "kms", http.StatusBadRequest, "MalformedPolicyDocumentException", "The new key policy is not valid JSON")
			return
		}
		k.Policy = in.Policy
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, "{}")
	case "ListGrants":
		start := 0
		if in.Marker != "" {
			if _, err := fmt.Sscanf(in.Marker, "m%d", &start); err != nil || start < 0 || start > len(k.Grants) {
				WriteError(w, "kms", http.StatusBadRequest, "InvalidMarkerException", "invalid marker")
				return
			}
		}
		limit := in.Limit
		if limit <= 0 || limit > 100 {
			limit = 50
		}
		end := min(start+limit, len(k.Grants))
		out := map[string]any{"Truncated": end < len(k.Grants)}
		list := make([]kmsGrantJSON, 0, end-start)
		for _, g := range k.Grants[start:end] {
			list = append(list, kmsGrantJSON{
				GrantID: g.ID, Name: g.Name, GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
				Operations: g.Operations, IssuingAccount: g.IssuingAccount, KeyID: k.ARN(acct), CreationDate: float64(g.Created.Unix()),
			})
		}
		out["Grants"] = list
		if end < len(k.Grants) {
			out["NextMarker"] = fmt.Sprintf("m%d", end)
		}
		WriteJSON(w, out)
	case "RevokeGrant":
		i := slices.IndexFunc(k.Grants, func(g KMSGrant) bool { return g.ID == in.GrantID })
		if i < 0 {
			WriteError(w, "kms", http.StatusBadRequest, "NotFoundException", "Grant ID not found")
			return
		}
		k.Grants = slices.Delete(k.Grants, i, i+1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, "{}")
	case "CreateGrant":
		if in.GranteePrincipal == "" || len(in.Operations) == 0 {
			WriteError(w, "kms", http.StatusBadRequest, "ValidationException", "GranteePrincipal and Operations are required")
			return
		}
		f.grants++
		g := KMSGrant{
			ID: fmt.Sprintf("%064x", f.grants), Name: in.Name, GranteePrincipal: in.GranteePrincipal, RetiringPrincipal: in.RetiringPrincipal,
			Operations: in.Operations, IssuingAccount: "arn:aws:iam::" + acct + ":root", Created: f.clk.Now(),
		}
		k.Grants = append(k.Grants, g)
		WriteJSON(w, map[string]any{"GrantId": g.ID, "GrantToken": "fake-token-" + g.ID})
	default:
		WriteError(w, "kms", http.StatusBadRequest, "UnsupportedOperationException", fmt.Sprintf("the fake does not serve %s", action))
	}
}
