package awsfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Grantee URIs of the two public groups.
const (
	AllUsersURI           = "http://acs.amazonaws.com/groups/global/AllUsers"
	AuthenticatedUsersURI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// S3Grant is one ACL grant.
type S3Grant struct {
	Type        string // CanonicalUser, Group or AmazonCustomerByEmail
	ID          string // canonical user ID
	URI         string // group URI
	Email       string
	DisplayName string
	Permission  string // READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL
}

// S3PublicAccessBlock is a public access block configuration.
type S3PublicAccessBlock struct {
	BlockPublicAcls       bool `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `xml:"RestrictPublicBuckets"`
}

// S3Bucket is a bucket in the S3 fake.
type S3Bucket struct {
	Name string
	// Policy is the bucket policy JSON, "" for none.
	Policy string
	// PolicyPublic, when set, is what GetBucketPolicyStatus answers instead
	// of the fake's own simple verdict.
	PolicyPublic      *bool
	ACL               []S3Grant
	PublicAccessBlock *S3PublicAccessBlock
	Tags              map[string]string
	// Encryption is the bucket's default encryption; nil for none, which
	// GetBucketEncryption answers with
	// ServerSideEncryptionConfigurationNotFoundError as older buckets do.
	Encryption *S3Encryption
	// Logging is where the bucket's server access logs go; nil when off.
	Logging *S3Logging
}

// S3Encryption is a bucket's default encryption rule.
type S3Encryption struct {
	Algorithm string // AES256, aws:kms or aws:kms:dsse
	KMSKeyID  string
}

// S3Logging is a bucket's server access logging setting.
type S3Logging struct {
	TargetBucket string
	TargetPrefix string
	// Partitioned selects the PartitionedPrefix key format
	// ([prefix][account]/[region]/[bucket]/[YYYY]/[MM]/[DD]/…) instead of
	// SimplePrefix.
	Partitioned bool
}

// S3Object is an object in the S3 fake.
type S3Object struct {
	Key          string
	Body         []byte
	Size         int64 // len(Body) when zero
	LastModified time.Time
}

type s3Bucket struct {
	S3Bucket
	owner   string
	objects map[string]S3Object
}

// S3 fakes the bucket-level S3 APIs the bot reads and changes, plus the
// account-level public access block of S3 Control (which signs as "s3").
// Buckets belong to one account; callers from another get AccessDenied.
type S3 struct {
	mu      sync.Mutex
	buckets map[string]*s3Bucket
	account map[string]*S3PublicAccessBlock
}

// NewS3 returns an S3 fake with no buckets.
func NewS3() *S3 {
	return &S3{buckets: map[string]*s3Bucket{}, account: map[string]*S3PublicAccessBlock{}}
}

// AddBucket seeds a bucket owned by an account. A bucket without an ACL
// gets the owner's FULL_CONTROL grant, as S3 creates it.
func (f *S3) AddBucket(account string, b S3Bucket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.ACL == nil {
		b.ACL = []S3Grant{{Type: "CanonicalUser", ID: canonicalID(account), DisplayName: "owner", Permission: "FULL_CONTROL"}}
	}
	b.ACL = slices.Clone(b.ACL)
	b.Tags = cloneMap(b.Tags)
	if b.PublicAccessBlock != nil {
		pab := *b.PublicAccessBlock
		b.PublicAccessBlock = &pab
	}
	if b.Encryption != nil {
		e := *b.Encryption
		b.Encryption = &e
	}
	if b.Logging != nil {
		l := *b.Logging
		b.Logging = &l
	}
	f.buckets[b.Name] = &s3Bucket{S3Bucket: b, owner: account, objects: map[string]S3Object{}}
}

// PutObject adds (or replaces) an object in a bucket seeded with
// AddBucket.
func (f *S3) PutObject(bucket string, o S3Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[bucket]
	if !ok {
		return fmt.Errorf("no bucket %s", bucket)
	}
	if o.Size == 0 {
		o.Size = int64(len(o.Body))
	}
	o.Body = slices.Clone(o.Body)
	b.objects[o.Key] = o
	return nil
}

// Bucket returns a copy of a bucket's state.
func (f *S3) Bucket(name string) (S3Bucket, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[name]
	if !ok {
		return S3Bucket{}, false
	}
	c := b.S3Bucket
	c.ACL, c.Tags = slices.Clone(b.ACL), cloneMap(b.Tags)
	if b.PublicAccessBlock != nil {
		pab := *b.PublicAccessBlock
		c.PublicAccessBlock = &pab
	}
	return c, true
}

// DeleteBucket removes a bucket.
func (f *S3) DeleteBucket(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.buckets, name)
}

// SetAccountPublicAccessBlock sets (or with nil removes) an account's
// public access block.
func (f *S3) SetAccountPublicAccessBlock(account string, pab *S3PublicAccessBlock) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pab == nil {
		delete(f.account, account)
		return
	}
	c := *pab
	f.account[account] = &c
}

// AccountPublicAccessBlock returns an account's public access block.
func (f *S3) AccountPublicAccessBlock(account string) (S3PublicAccessBlock, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pab, ok := f.account[account]
	if !ok {
		return S3PublicAccessBlock{}, false
	}
	return *pab, true
}

// PolicyIsPublic is the fake's simple verdict for GetBucketPolicyStatus: an
// Allow statement for principal "*" (or {"AWS":"*"}) without any Condition.
// AWS's real analysis is finer; tests that need its answer set
// S3Bucket.PolicyPublic.
func PolicyIsPublic(doc string) bool {
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false
	}
	var stmts []map[string]json.RawMessage
	if json.Unmarshal(p.Statement, &stmts) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(p.Statement, &one) != nil {
			return false
		}
		stmts = []map[string]json.RawMessage{one}
	}
	for _, st := range stmts {
		var effect string
		_ = json.Unmarshal(st["Effect"], &effect)
		if effect != "Allow" || st["Condition"] != nil {
			continue
		}
		var star string
		if json.Unmarshal(st["Principal"], &star) == nil && star == "*" {
			return true
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(st["Principal"], &m) == nil {
			var one string
			var many []string
			if json.Unmarshal(m["AWS"], &one) == nil && one == "*" {
				return true
			}
			if json.Unmarshal(m["AWS"], &many) == nil && slices.Contains(many, "*") {
				return true
			}
		}
	}
	return false
}

type s3GrantXML struct {
	Grantee struct {
		XSI         string `xml:"xmlns:xsi,attr"`
		Type        string `xml:"xsi:type,attr"`
		ID          string `xml:"ID,omitempty"`
		DisplayName string `xml:"DisplayName,omitempty"`
		URI         string `xml:"URI,omitempty"`
		Email       string `xml:"EmailAddress,omitempty"`
	} `xml:"Grantee"`
	Permission string `xml:"Permission"`
}

type s3Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

const s3ControlPAB = "/v20180820/configuration/publicAccessBlock"

func (f *S3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller := CallerOf(r)
	if r.URL.Path == s3ControlPAB {
		f.serveAccountPAB(w, r, caller)
		return
	}
	name := strings.Trim(r.URL.Path, "/")
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	body, err := readBody(r)
	if err != nil {
		WriteError(w, "s3", http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[name]
	if !ok {
		WriteError(w, "s3", http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	if b.owner != caller.Account {
		WriteError(w, "s3", http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	q := r.URL.Query()
	switch {
	case q.Has("policy"):
		f.servePolicy(w, r, b, body)
	case q.Has("policyStatus") && r.Method == http.MethodGet:
		if b.Policy == "" {
			WriteError(w, "s3", http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
			return
		}
		public := PolicyIsPublic(b.Policy)
		if b.PolicyPublic != nil {
			public = *b.PolicyPublic
		}
		WriteXML(w, "PolicyStatus", struct {
			IsPublic bool `xml:"IsPublic"`
		}{public})
	case q.Has("acl"):
		f.serveACL(w, r, b)
	case q.Has("publicAccessBlock"):
		servePAB(w, r, &b.PublicAccessBlock, body, false)
	case q.Has("encryption") && r.Method == http.MethodGet:
		if b.Encryption == nil {
			WriteError(w, "s3", http.StatusNotFound, "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found")
			return
		}
		type byDefault struct {
			Algorithm string `xml:"SSEAlgorithm"`
			KeyID     string `xml:"KMSMasterKeyID,omitempty"`
		}
		WriteXML(w, "ServerSideEncryptionConfiguration", struct {
			Rule struct {
				Default byDefault `xml:"ApplyServerSideEncryptionByDefault"`
			} `xml:"Rule"`
		}{Rule: struct {
			Default byDefault `xml:"ApplyServerSideEncryptionByDefault"`
		}{byDefault{b.Encryption.Algorithm, b.Encryption.KMSKeyID}}})
	case q.Has("logging") && r.Method == http.MethodGet:
		f.serveLogging(w, b)
	case q.Get("list-type") == "2" && r.Method == http.MethodGet:
		f.serveList(w, r, b)
	case r.Method == http.MethodGet && strings.Contains(strings.Trim(r.URL.Path, "/"), "/"):
		key := strings.TrimPrefix(strings.Trim(r.URL.Path, "/"), name+"/")
		o, ok := b.objects[key]
		if !ok {
			WriteError(w, "s3", http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
		_, _ = w.Write(o.Body)
	case q.Has("tagging") && r.Method == http.MethodGet:
		if len(b.Tags) == 0 {
			WriteError(w, "s3", http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist")
			return
		}
		var tags []s3Tag
		for _, k := range sortedKeys(b.Tags) {
			tags = append(tags, s3Tag{Key: k, Value: b.Tags[k]})
		}
		WriteXML(w, "Tagging", struct {
			Tags []s3Tag `xml:"TagSet>Tag"`
		}{tags})
	default:
		WriteError(w, "s3", http.StatusNotImplemented, "NotImplemented", fmt.Sprintf("%s %s is not implemented by the fake", r.Method, r.URL.RequestURI()))
	}
}

func (f *S3) servePolicy(w http.ResponseWriter, r *http.Request, b *s3Bucket, body []byte) {
	switch r.Method {
	case http.MethodGet:
		if b.Policy == "" {
			WriteError(w, "s3", http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, b.Policy)
	case http.MethodPut:
		if !json.Valid(body) {
			WriteError(w, "s3", http.StatusBadRequest, "MalformedPolicy", "Policies must be valid JSON")
			return
		}
		blocked := b.PublicAccessBlock != nil && b.PublicAccessBlock.BlockPublicPolicy
		if acct := f.account[b.owner]; acct != nil && acct.BlockPublicPolicy {
			blocked = true
		}
		if blocked && PolicyIsPublic(string(body)) {
			WriteError(w, "s3", http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		b.Policy = string(body)
		b.PolicyPublic = nil
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		b.Policy = ""
		b.PolicyPublic = nil
		w.WriteHeader(http.StatusNoContent)
	default:
		WriteError(w, "s3", http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
}

func (f *S3) serveACL(w http.ResponseWriter, r *http.Request, b *s3Bucket) {
	switch r.Method {
	case http.MethodGet:
		grants := make([]s3GrantXML, 0, len(b.ACL))
		for _, g := range b.ACL {
			var x s3GrantXML
			x.Grantee.XSI = "http://www.w3.org/2001/XMLSchema-instance"
			x.Grantee.Type, x.Grantee.ID, x.Grantee.DisplayName = g.Type, g.ID, g.DisplayName
			x.Grantee.URI, x.Grantee.Email = g.URI, g.Email
			x.Permission = g.Permission
			grants = append(grants, x)
		}
		WriteXML(w, "AccessControlPolicy", struct {
			Owner struct {
				ID          string `xml:"ID"`
				DisplayName string `xml:"DisplayName"`
			} `xml:"Owner"`
			Grants []s3GrantXML `xml:"AccessControlList>Grant"`
		}{Owner: struct {
			ID          string `xml:"ID"`
			DisplayName string `xml:"DisplayName"`
		}{canonicalID(b.owner), "owner"}, Grants: grants})
	case http.MethodPut:
		// Canned ACLs only: enough to make a bucket public or private.
		owner := S3Grant{Type: "CanonicalUser", ID: canonicalID(b.owner), DisplayName: "owner", Permission: "FULL_CONTROL"}
		canned := r.Header.Get("X-Amz-Acl")
		public := canned == "public-read" || canned == "public-read-write" || canned == "authenticated-read"
		blocked := b.PublicAccessBlock != nil && b.PublicAccessBlock.BlockPublicAcls
		if acct := f.account[b.owner]; acct != nil && acct.BlockPublicAcls {
			blocked = true
		}
		if public && blocked {
			WriteError(w, "s3", http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		switch canned {
		case "private", "":
			b.ACL = []S3Grant{owner}
		case "public-read":
			b.ACL = []S3Grant{owner, {Type: "Group", URI: AllUsersURI, Permission: "READ"}}
		case "public-read-write":
			b.ACL = []S3Grant{owner, {Type: "Group", URI: AllUsersURI, Permission: "READ"}, {Type: "Group", URI: AllUsersURI, Permission: "WRITE"}}
		case "authenticated-read":
			b.ACL = []S3Grant{owner, {Type: "Group", URI: AuthenticatedUsersURI, Permission: "READ"}}
		default:
			WriteError(w, "s3", http.StatusBadRequest, "InvalidArgument", "unsupported canned ACL "+canned)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		WriteError(w, "s3", http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
}

func (f *S3) serveAccountPAB(w http.ResponseWriter, r *http.Request, caller Identity) {
	account := r.Header.Get("X-Amz-Account-Id")
	if account != caller.Account {
		writeS3ControlError(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeS3ControlError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pab := f.account[account]
	servePAB(w, r, &pab, body, true)
	if pab == nil {
		delete(f.account, account)
	} else {
		f.account[account] = pab
	}
}

// servePAB gets, puts or deletes a public access block held in *slot.
func servePAB(w http.ResponseWriter, r *http.Request, slot **S3PublicAccessBlock, body []byte, control bool) {
	fail := func(status int, code, msg string) {
		if control {
			writeS3ControlError(w, status, code, msg)
			return
		}
		WriteError(w, "s3", status, code, msg)
	}
	switch r.Method {
	case http.MethodGet:
		if *slot == nil {
			fail(http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
			return
		}
		WriteXML(w, "PublicAccessBlockConfiguration", **slot)
	case http.MethodPut:
		var pab S3PublicAccessBlock
		if err := xml.Unmarshal(body, &pab); err != nil {
			fail(http.StatusBadRequest, "MalformedXML", err.Error())
			return
		}
		*slot = &pab
		if control {
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		*slot = nil
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
}

// writeS3ControlError writes S3 Control's error shape, which (unlike S3's)
// wraps <Error> in <ErrorResponse>.
func writeS3ControlError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`, esc(code), esc(msg))
}

// readBody reads a request body, undoing the aws-chunked encoding the SDK
// uses when it sends a trailing checksum.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return body, nil
	}
	var out bytes.Buffer
	for len(body) > 0 {
		line, rest, ok := bytes.Cut(body, []byte("\r\n"))
		if !ok {
			return nil, fmt.Errorf("truncated aws-chunked body")
		}
		sizeHex, _, _ := bytes.Cut(line, []byte(";"))
		var size int
		if _, err := fmt.Sscanf(string(sizeHex), "%x", &size); err != nil {
			return nil, fmt.Errorf("bad chunk size %q", sizeHex)
		}
		if size == 0 {
			break
		}
		if len(rest) < size {
			return nil, fmt.Errorf("truncated chunk")
		}
		out.Write(rest[:size])
		body = bytes.TrimPrefix(rest[size:], []byte("\r\n"))
	}
	return out.Bytes(), nil
}

// canonicalID makes a stable canonical user ID for an account.
func canonicalID(account string) string {
	return fmt.Sprintf("%064x", []byte(account))[:64]
}

func (f *S3) serveLogging(w http.ResponseWriter, b *s3Bucket) {
	type keyFormat struct {
		Simple      *struct{} `xml:"SimplePrefix,omitempty"`
		Partitioned *struct {
			Source string `xml:"PartitionDateSource"`
		} `xml:"PartitionedPrefix,omitempty"`
	}
	type enabled struct {
		TargetBucket string     `xml:"TargetBucket"`
		TargetPrefix string     `xml:"TargetPrefix"`
		KeyFormat    *keyFormat `xml:"TargetObjectKeyFormat,omitempty"`
	}
	var doc struct {
		Enabled *enabled `xml:"LoggingEnabled,omitempty"`
	}
	if l := b.Logging; l != nil {
		doc.Enabled = &enabled{TargetBucket: l.TargetBucket, TargetPrefix: l.TargetPrefix, KeyFormat: &keyFormat{}}
		if l.Partitioned {
			doc.Enabled.KeyFormat.Partitioned = &struct {
				Source string `xml:"PartitionDateSource"`
			}{"EventTime"}
		} else {
			doc.Enabled.KeyFormat.Simple = &struct{}{}
		}
	}
	WriteXML(w, "BucketLoggingStatus", doc)
}

// serveList answers ListObjectsV2 in key order, max-keys (at most 1000) a
// page, continuing after the key a continuation token names.
func (f *S3) serveList(w http.ResponseWriter, r *http.Request, b *s3Bucket) {
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("max-keys"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < limit {
			limit = n
		}
	}
	prefix := q.Get("prefix")
	after := q.Get("start-after")
	if tok := q.Get("continuation-token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			WriteError(w, "s3", http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect")
			return
		}
		after = string(raw)
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	type content struct {
		Key          string `xml:"Key"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
		StorageClass string `xml:"StorageClass"`
	}
	out := struct {
		Name                  string    `xml:"Name"`
		Prefix                string    `xml:"Prefix"`
		KeyCount              int       `xml:"KeyCount"`
		MaxKeys               int       `xml:"MaxKeys"`
		IsTruncated           bool      `xml:"IsTruncated"`
		NextContinuationToken string    `xml:"NextContinuationToken,omitempty"`
		Contents              []content `xml:"Contents"`
	}{Name: b.Name, Prefix: prefix, MaxKeys: limit}
	for _, k := range keys {
		if len(out.Contents) == limit {
			out.IsTruncated = true
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Contents[len(out.Contents)-1].Key))
			break
		}
		o := b.objects[k]
		out.Contents = append(out.Contents, content{Key: k, LastModified: isoTime(o.LastModified), ETag: `"fake"`, Size: o.Size, StorageClass: "STANDARD"})
	}
	out.KeyCount = len(out.Contents)
	WriteXML(w, "ListBucketResult", out)
}
