package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// SSOAdmin fakes the parts of IAM Identity Center that break-glass access
// uses: account assignments of permission sets (SSO Admin, signing name
// "sso"), whose creation and deletion are asynchronous as in AWS, and the
// lookup of a user by email (Identity Store, signing name
// "identitystore"). Register it for both services.
type SSOAdmin struct {
	mu sync.Mutex
	// users maps identity store → email → user ID.
	users map[string]map[string]string
	// assigned holds instance|account|permission set → principal IDs.
	assigned map[string]map[string]bool
	ops      map[string]*ssoOp
	seq      int
	// polls is how many status reads an operation answers IN_PROGRESS
	// before it completes.
	polls int
	// failures maps "create" or "delete" to the reason the next such
	// operation fails with.
	failures map[string]string
}

type ssoOp struct {
	status ssoStatus
	polls  int
	apply  func() // runs once, when the operation completes
}

type ssoStatus struct {
	RequestID        string `json:"RequestId"`
	Status           string `json:"Status"`
	FailureReason    string `json:"FailureReason,omitempty"`
	PermissionSetArn string `json:"PermissionSetArn"`
	PrincipalID      string `json:"PrincipalId"`
	PrincipalType    string `json:"PrincipalType"`
	TargetID         string `json:"TargetId"`
	TargetType       string `json:"TargetType"`
}

// NewSSOAdmin returns an Identity Center with no users and no assignments,
// whose operations complete on the first status read.
func NewSSOAdmin() *SSOAdmin {
	return &SSOAdmin{users: map[string]map[string]string{}, assigned: map[string]map[string]bool{}, ops: map[string]*ssoOp{}, failures: map[string]string{}}
}

// AddUser adds a user to an identity store.
func (f *SSOAdmin) AddUser(identityStoreID, userID, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users[identityStoreID] == nil {
		f.users[identityStoreID] = map[string]string{}
	}
	f.users[identityStoreID][strings.ToLower(email)] = userID
}

// Assign seeds an assignment, as one made by hand in the console.
func (f *SSOAdmin) Assign(instanceARN, account, permissionSetARN, principalID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(instanceARN, account, permissionSetARN, principalID, true)
}

// Assignments lists the principals a permission set is assigned to in an
// account, sorted.
func (f *SSOAdmin) Assignments(instanceARN, account, permissionSetARN string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listLocked(instanceARN, account, permissionSetARN)
}

// SetPolls makes every later operation answer IN_PROGRESS to n status reads
// before it completes.
func (f *SSOAdmin) SetPolls(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls = n
}

// FailNext makes the next "create" or "delete" operation end FAILED with
// reason, after it was accepted, as AWS reports provisioning failures.
func (f *SSOAdmin) FailNext(op, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[op] = reason
}

func ssoKey(instance, account, ps string) string { return instance + "|" + account + "|" + ps }

func (f *SSOAdmin) setLocked(instance, account, ps, principal string, on bool) {
	k := ssoKey(instance, account, ps)
	if f.assigned[k] == nil {
		f.assigned[k] = map[string]bool{}
	}
	if on {
		f.assigned[k][principal] = true
	} else {
		delete(f.assigned[k], principal)
	}
}

func (f *SSOAdmin) listLocked(instance, account, ps string) []string {
	var out []string
	for p := range f.assigned[ssoKey(instance, account, ps)] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

type ssoAssignmentInput struct {
	InstanceArn      string
	PermissionSetArn string
	PrincipalID      string `json:"PrincipalId"`
	PrincipalType    string
	TargetID         string `json:"TargetId"`
	TargetType       string
}

func (f *SSOAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, service := Signer(r)
	action := ActionOf(service, r)
	var in map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		ssoError(w, http.StatusBadRequest, "ValidationException", "body is not JSON: "+err.Error())
		return
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(in[k], &s)
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch action {
	case "GetUserId":
		var alt struct {
			UniqueAttribute *struct {
				AttributePath  string
				AttributeValue json.RawMessage
			}
		}
		_ = json.Unmarshal(in["AlternateIdentifier"], &alt)
		if alt.UniqueAttribute == nil || !strings.EqualFold(alt.UniqueAttribute.AttributePath, "emails.value") {
			ssoError(w, http.StatusBadRequest, "ValidationException", "only emails.value lookups are faked")
			return
		}
		var email string
		_ = json.Unmarshal(alt.UniqueAttribute.AttributeValue, &email)
		id, ok := f.users[str("IdentityStoreId")][strings.ToLower(email)]
		if !ok {
			ssoError(w, http.StatusBadRequest, "ResourceNotFoundException", "no user with that email")
			return
		}
		ssoReply(w, map[string]string{"IdentityStoreId": str("IdentityStoreId"), "UserId": id})
	case "CreateAccountAssignment", "DeleteAccountAssignment":
		var a ssoAssignmentInput
		raw, _ := json.Marshal(in)
		_ = json.Unmarshal(raw, &a)
		if a.InstanceArn == "" || a.PermissionSetArn == "" || a.PrincipalID == "" || a.TargetID == "" || a.PrincipalType != "USER" || a.TargetType != "AWS_ACCOUNT" {
			ssoError(w, http.StatusBadRequest, "ValidationException", "InstanceArn, PermissionSetArn, PrincipalId, PrincipalType USER, TargetId and TargetType AWS_ACCOUNT are required")
			return
		}
		create := action == "CreateAccountAssignment"
		op := "delete"
		if create {
			op = "create"
		}
		f.seq++
		st := ssoStatus{RequestID: fmt.Sprintf("req-%s-%04d", op, f.seq), Status: "IN_PROGRESS", PermissionSetArn: a.PermissionSetArn,
			PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType, TargetID: a.TargetID, TargetType: a.TargetType}
		o := &ssoOp{status: st, polls: f.polls, apply: func() { f.setLocked(a.InstanceArn, a.TargetID, a.PermissionSetArn, a.PrincipalID, create) }}
		if reason, ok := f.failures[op]; ok {
			delete(f.failures, op)
			o.apply = nil
			o.status.FailureReason = reason
		}
		f.ops[st.RequestID] = o
		if create {
			ssoReply(w, map[string]any{"AccountAssignmentCreationStatus": st})
		} else {
			ssoReply(w, map[string]any{"AccountAssignmentDeletionStatus": st})
		}
	case "DescribeAccountAssignmentCreationStatus", "DescribeAccountAssignmentDeletionStatus":
		field, out := "AccountAssignmentCreationRequestId", "AccountAssignmentCreationStatus"
		if action == "DescribeAccountAssignmentDeletionStatus" {
			field, out = "AccountAssignmentDeletionRequestId", "AccountAssignmentDeletionStatus"
		}
		o, ok := f.ops[str(field)]
		if !ok {
			ssoError(w, http.StatusBadRequest, "ResourceNotFoundException", "no such request")
			return
		}
		if o.status.Status == "IN_PROGRESS" {
			if o.polls > 0 {
				o.polls--
			} else if o.status.FailureReason != "" {
				o.status.Status = "FAILED"
			} else {
				o.status.Status = "SUCCEEDED"
				o.apply()
			}
		}
		ssoReply(w, map[string]any{out: o.status})
	case "ListAccountAssignments":
		var list []map[string]string
		for _, p := range f.listLocked(str("InstanceArn"), str("AccountId"), str("PermissionSetArn")) {
			list = append(list, map[string]string{"AccountId": str("AccountId"), "PermissionSetArn": str("PermissionSetArn"), "PrincipalId": p, "PrincipalType": "USER"})
		}
		ssoReply(w, map[string]any{"AccountAssignments": list})
	default:
		ssoError(w, http.StatusBadRequest, "UnknownOperationException", "unsupported action "+action)
	}
}

func ssoReply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// ssoError answers in the JSON error shape both services use (WriteError
// knows SSO Admin only by its signing name).
func ssoError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
