package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// IAMUser is a user in the IAM fake.
type IAMUser struct {
	Name    string
	Path    string // "/" unless set
	Created time.Time
	Tags    map[string]string
	// Policies maps inline policy names to their documents (plain JSON).
	Policies map[string]string
}

// IAMRole is a role in the IAM fake.
type IAMRole struct {
	Name    string
	Path    string
	Created time.Time
	// MaxSessionDuration is in seconds; 3600 unless set.
	MaxSessionDuration int
	Tags               map[string]string
	Policies           map[string]string
}

// IAMAccessKey is a user's long-term access key.
type IAMAccessKey struct {
	ID       string
	User     string
	Status   string // Active or Inactive
	Created  time.Time
	LastUsed time.Time // zero when never used
	Service  string    // service of the last use
	Region   string    // region of the last use
}

type iamAccount struct {
	users map[string]*IAMUser
	roles map[string]*IAMRole
	keys  map[string]*IAMAccessKey
}

// IAM fakes the IAM API per account: the caller's account (from its access
// key) decides which users, roles and keys a call sees.
type IAM struct {
	clk clock.Clock

	mu       sync.Mutex
	accounts map[string]*iamAccount
}

// NewIAM returns an empty IAM fake; clk dates what it creates.
func NewIAM(clk clock.Clock) *IAM {
	if clk == nil {
		clk = clock.Real{}
	}
	return &IAM{clk: clk, accounts: map[string]*iamAccount{}}
}

func (f *IAM) account(id string) *iamAccount {
	a := f.accounts[id]
	if a == nil {
		a = &iamAccount{users: map[string]*IAMUser{}, roles: map[string]*IAMRole{}, keys: map[string]*IAMAccessKey{}}
		f.accounts[id] = a
	}
	return a
}

// AddUser seeds a user in an account.
func (f *IAM) AddUser(account string, u IAMUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.Path == "" {
		u.Path = "/"
	}
	u.Tags = cloneMap(u.Tags)
	u.Policies = cloneMap(u.Policies)
	f.account(account).users[u.Name] = &u
}

// AddRole seeds a role in an account.
func (f *IAM) AddRole(account string, r IAMRole) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Path == "" {
		r.Path = "/"
	}
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = 3600
	}
	r.Tags = cloneMap(r.Tags)
	r.Policies = cloneMap(r.Policies)
	f.account(account).roles[r.Name] = &r
}

// AddAccessKey seeds an access key of a user in an account.
func (f *IAM) AddAccessKey(account string, k IAMAccessKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k.Status == "" {
		k.Status = "Active"
	}
	f.account(account).keys[k.ID] = &k
}

// User returns a copy of a user and its inline policies.
func (f *IAM) User(account, name string) (IAMUser, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.account(account).users[name]
	if !ok {
		return IAMUser{}, false
	}
	c := *u
	c.Tags, c.Policies = cloneMap(u.Tags), cloneMap(u.Policies)
	return c, true
}

// Role returns a copy of a role and its inline policies.
func (f *IAM) Role(account, name string) (IAMRole, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.account(account).roles[name]
	if !ok {
		return IAMRole{}, false
	}
	c := *r
	c.Tags, c.Policies = cloneMap(r.Tags), cloneMap(r.Policies)
	return c, true
}

// AccessKey returns a copy of an access key.
func (f *IAM) AccessKey(account, id string) (IAMAccessKey, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.account(account).keys[id]
	if !ok {
		return IAMAccessKey{}, false
	}
	return *k, true
}

type iamTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type iamUserXML struct {
	Path       string   `xml:"Path"`
	UserName   string   `xml:"UserName"`
	UserID     string   `xml:"UserId"`
	Arn        string   `xml:"Arn"`
	CreateDate string   `xml:"CreateDate"`
	Tags       []iamTag `xml:"Tags>member,omitempty"`
}

type iamRoleXML struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	Arn                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	MaxSessionDuration       int      `xml:"MaxSessionDuration"`
	Tags                     []iamTag `xml:"Tags>member,omitempty"`
}

type iamKeyXML struct {
	UserName    string `xml:"UserName"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type iamTagsResult struct {
	Tags        []iamTag `xml:"Tags>member"`
	IsTruncated bool     `xml:"IsTruncated"`
}

type iamPolicyResult struct {
	UserName       string `xml:"UserName,omitempty"`
	RoleName       string `xml:"RoleName,omitempty"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type iamLastUsedResult struct {
	UserName          string `xml:"UserName"`
	AccessKeyLastUsed struct {
		LastUsedDate string `xml:"LastUsedDate,omitempty"`
		ServiceName  string `xml:"ServiceName"`
		Region       string `xml:"Region"`
	} `xml:"AccessKeyLastUsed"`
}

const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`

func (f *IAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, err := Form(r)
	if err != nil {
		WriteError(w, "iam", http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	caller := CallerOf(r)
	acct := caller.Account
	action := form.Get("Action")

	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(acct)

	user := func() (*IAMUser, bool) {
		name := form.Get("UserName")
		if name == "" && strings.Contains(caller.ARN, ":user/") {
			name = caller.ARN[strings.LastIndex(caller.ARN, "/")+1:]
		}
		u, ok := a.users[name]
		if !ok {
			WriteError(w, "iam", http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The user with name %s cannot be found.", name))
		}
		return u, ok
	}
	role := func() (*IAMRole, bool) {
		name := form.Get("RoleName")
		ro, ok := a.roles[name]
		if !ok {
			WriteError(w, "iam", http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", name))
		}
		return ro, ok
	}
	policyDoc := func() (string, bool) {
		if !policyNameRe.MatchString(form.Get("PolicyName")) {
			WriteError(w, "iam", http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
			return "", false
		}
		doc := form.Get("PolicyDocument")
		if !json.Valid([]byte(doc)) {
			WriteError(w, "iam", http.StatusBadRequest, "MalformedPolicyDocument", "The policy document is not valid JSON.")
			return "", false
		}
		return doc, true
	}

	switch action {
	case "GetUser":
		if u, ok := user(); ok {
			WriteQuery(w, nsIAM, action, struct {
				User iamUserXML `xml:"User"`
			}{f.userXML(acct, u)})
		}
	case "GetRole":
		if ro, ok := role(); ok {
			arn := fmt.Sprintf("arn:aws:iam::%s:role%s%s", acct, ro.Path, ro.Name)
			WriteQuery(w, nsIAM, action, struct {
				Role iamRoleXML `xml:"Role"`
			}{iamRoleXML{
				Path: ro.Path, RoleName: ro.Name, RoleID: "AROA" + userIDOf(arn)[4:], Arn: arn,
				CreateDate:               isoTime(f.created(ro.Created)),
				AssumeRolePolicyDocument: iamEncode(fmt.Sprintf(trustPolicy, acct)),
				MaxSessionDuration:       ro.MaxSessionDuration, Tags: iamTags(ro.Tags),
			}})
		}
	case "ListUserTags":
		if u, ok := user(); ok {
			WriteQuery(w, nsIAM, action, iamTagsResult{Tags: iamTags(u.Tags)})
		}
	case "ListRoleTags":
		if ro, ok := role(); ok {
			WriteQuery(w, nsIAM, action, iamTagsResult{Tags: iamTags(ro.Tags)})
		}
	case "ListAccessKeys":
		u, ok := user()
		if !ok {
			return
		}
		var keys []iamKeyXML
		for _, k := range sortedValues(a.keys) {
			if k.User == u.Name {
				keys = append(keys, iamKeyXML{UserName: k.User, AccessKeyID: k.ID, Status: k.Status, CreateDate: isoTime(f.created(k.Created))})
			}
		}
		WriteQuery(w, nsIAM, action, struct {
			Keys        []iamKeyXML `xml:"AccessKeyMetadata>member"`
			IsTruncated bool        `xml:"IsTruncated"`
		}{Keys: keys})
	case "GetAccessKeyLastUsed":
		k, ok := a.keys[form.Get("AccessKeyId")]
		if !ok {
			// IAM answers AccessDenied, not NoSuchEntity, for keys it
			// does not know, so key IDs cannot be probed.
			WriteError(w, "iam", http.StatusForbidden, "AccessDenied", "not authorized to perform iam:GetAccessKeyLastUsed")
			return
		}
		var res iamLastUsedResult
		res.UserName = k.User
		res.AccessKeyLastUsed.ServiceName, res.AccessKeyLastUsed.Region = "N/A", "N/A"
		if !k.LastUsed.IsZero() {
			res.AccessKeyLastUsed.LastUsedDate = isoTime(k.LastUsed)
			res.AccessKeyLastUsed.ServiceName, res.AccessKeyLastUsed.Region = k.Service, k.Region
		}
		WriteQuery(w, nsIAM, action, res)
	case "UpdateAccessKey":
		u, ok := user()
		if !ok {
			return
		}
		k, ok := a.keys[form.Get("AccessKeyId")]
		if !ok || k.User != u.Name {
			WriteError(w, "iam", http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The Access Key with id %s cannot be found.", form.Get("AccessKeyId")))
			return
		}
		st := form.Get("Status")
		if st != "Active" && st != "Inactive" {
			WriteError(w, "iam", http.StatusBadRequest, "ValidationError", "Status must be Active or Inactive")
			return
		}
		k.Status = st
		WriteQuery(w, nsIAM, action, nil)
	case "PutUserPolicy":
		u, ok := user()
		if !ok {
			return
		}
		if doc, ok := policyDoc(); ok {
			if u.Policies == nil {
				u.Policies = map[string]string{}
			}
			u.Policies[form.Get("PolicyName")] = doc
			WriteQuery(w, nsIAM, action, nil)
		}
	case "PutRolePolicy":
		ro, ok := role()
		if !ok {
			return
		}
		if doc, ok := policyDoc(); ok {
			name := form.Get("PolicyName")
			// IAM counts the role's inline policies together, the one
			// being replaced excepted, against one quota.
			total := PolicySize(doc)
			for n, d := range ro.Policies {
				if n != name {
					total += PolicySize(d)
				}
			}
			if total > MaxRolePolicySize {
				WriteError(w, "iam", http.StatusConflict, "LimitExceeded",
					fmt.Sprintf("Maximum policy size of %d bytes exceeded for role %s", MaxRolePolicySize, ro.Name))
				return
			}
			if ro.Policies == nil {
				ro.Policies = map[string]string{}
			}
			ro.Policies[name] = doc
			WriteQuery(w, nsIAM, action, nil)
		}
	case "GetUserPolicy":
		if u, ok := user(); ok {
			if doc, ok := inlinePolicy(w, u.Policies, form.Get("PolicyName"), "user", u.Name); ok {
				WriteQuery(w, nsIAM, action, iamPolicyResult{UserName: u.Name, PolicyName: form.Get("PolicyName"), PolicyDocument: iamEncode(doc)})
			}
		}
	case "GetRolePolicy":
		if ro, ok := role(); ok {
			if doc, ok := inlinePolicy(w, ro.Policies, form.Get("PolicyName"), "role", ro.Name); ok {
				WriteQuery(w, nsIAM, action, iamPolicyResult{RoleName: ro.Name, PolicyName: form.Get("PolicyName"), PolicyDocument: iamEncode(doc)})
			}
		}
	case "DeleteUserPolicy":
		if u, ok := user(); ok {
			if _, ok := inlinePolicy(w, u.Policies, form.Get("PolicyName"), "user", u.Name); ok {
				delete(u.Policies, form.Get("PolicyName"))
				WriteQuery(w, nsIAM, action, nil)
			}
		}
	case "DeleteRolePolicy":
		if ro, ok := role(); ok {
			if _, ok := inlinePolicy(w, ro.Policies, form.Get("PolicyName"), "role", ro.Name); ok {
				delete(ro.Policies, form.Get("PolicyName"))
				WriteQuery(w, nsIAM, action, nil)
			}
		}
	case "ListUserPolicies", "ListRolePolicies":
		var pols map[string]string
		if action == "ListUserPolicies" {
			u, ok := user()
			if !ok {
				return
			}
			pols = u.Policies
		} else {
			ro, ok := role()
			if !ok {
				return
			}
			pols = ro.Policies
		}
		names, marker, ok := pageOf(w, form, sortedKeys(pols))
		if !ok {
			return
		}
		WriteQuery(w, nsIAM, action, struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			IsTruncated bool     `xml:"IsTruncated"`
			Marker      string   `xml:"Marker,omitempty"`
		}{PolicyNames: names, IsTruncated: marker != "", Marker: marker})
	case "TagRole":
		if ro, ok := role(); ok {
			if tags, ok := tagsOf(w, form, ro.Tags); ok {
				ro.Tags = tags
				WriteQuery(w, nsIAM, action, nil)
			}
		}
	case "TagUser":
		if u, ok := user(); ok {
			if tags, ok := tagsOf(w, form, u.Tags); ok {
				u.Tags = tags
				WriteQuery(w, nsIAM, action, nil)
			}
		}
	default:
		WriteError(w, "iam", http.StatusBadRequest, "InvalidAction", "unsupported action "+action)
	}
}

// MaxRolePolicySize is IAM's quota on the size of a role's inline
// policies taken together, in characters other than white space.
const MaxRolePolicySize = 10240

// PolicySize is a policy document's size as IAM counts it against its
// quotas: white space does not count.
func PolicySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// policyNameRe is what IAM accepts as an inline policy name.
var policyNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// Paging of IAM's List calls: 100 items unless MaxItems says otherwise
// (1 to 1000).
const (
	defaultMaxItems = 100
	maxMaxItems     = 1000
)

// pageOf cuts one page out of sorted names as IAM's List calls do: the
// Marker of the previous page says where to go on, MaxItems how many to
// give. The marker returned is empty on the last page. The marker is the
// next name, so names deleted between pages do not shift the rest.
func pageOf(w http.ResponseWriter, form url.Values, names []string) ([]string, string, bool) {
	limit := defaultMaxItems
	if v := form.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMaxItems {
			WriteError(w, "iam", http.StatusBadRequest, "ValidationError",
				fmt.Sprintf("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and %d", v, maxMaxItems))
			return nil, "", false
		}
		limit = n
	}
	start := 0
	if m := form.Get("Marker"); m != "" {
		from, err := url.QueryUnescape(m)
		if err != nil {
			WriteError(w, "iam", http.StatusBadRequest, "ValidationError", "Invalid Marker.")
			return nil, "", false
		}
		start, _ = slices.BinarySearch(names, from)
	}
	names = names[start:]
	if len(names) <= limit {
		return names, "", true
	}
	return names[:limit], url.QueryEscape(names[limit]), true
}

// maxIAMTags is IAM's limit of tags on a role or user.
const maxIAMTags = 50

// tagsOf merges the request's Tags.member.N into existing ones, as
// TagRole and TagUser do (a key given again is overwritten), refusing
// what IAM refuses: no tags, an empty or aws: key, more than 50 tags.
func tagsOf(w http.ResponseWriter, form url.Values, existing map[string]string) (map[string]string, bool) {
	keys, vals := indexed(form, "Tags.member", "Key"), indexed(form, "Tags.member", "Value")
	if len(keys) == 0 {
		WriteError(w, "iam", http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
		return nil, false
	}
	out := cloneMap(existing)
	if out == nil {
		out = map[string]string{}
	}
	for i, k := range keys {
		if k == "" || strings.HasPrefix(strings.ToLower(k), "aws:") {
			WriteError(w, "iam", http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Tag key %q is not allowed.", k))
			return nil, false
		}
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		out[k] = v
	}
	if len(out) > maxIAMTags {
		WriteError(w, "iam", http.StatusConflict, "LimitExceeded", fmt.Sprintf("The number of tags has reached the maximum limit of %d.", maxIAMTags))
		return nil, false
	}
	return out, true
}

func (f *IAM) userXML(acct string, u *IAMUser) iamUserXML {
	arn := fmt.Sprintf("arn:aws:iam::%s:user%s%s", acct, u.Path, u.Name)
	return iamUserXML{Path: u.Path, UserName: u.Name, UserID: userIDOf(arn), Arn: arn, CreateDate: isoTime(f.created(u.Created)), Tags: iamTags(u.Tags)}
}

func (f *IAM) created(t time.Time) time.Time {
	if t.IsZero() {
		return f.clk.Now()
	}
	return t
}

func inlinePolicy(w http.ResponseWriter, pols map[string]string, name, kind, owner string) (string, bool) {
	doc, ok := pols[name]
	if !ok {
		WriteError(w, "iam", http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The %s policy with name %s cannot be found for %s.", kind, name, owner))
	}
	return doc, ok
}

// iamEncode percent-encodes a policy document as IAM returns it (RFC 3986,
// spaces as %20).
func iamEncode(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func iamTags(m map[string]string) []iamTag {
	out := make([]iamTag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, iamTag{Key: k, Value: m[k]})
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
