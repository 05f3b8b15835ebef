package awsfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// accessesOf names the permissions a request needs, as IAM would check
// them: the IAM action of the operation and the ARN of each resource it
// acts on. Operations without resource-level permissions, and any this
// table does not know, act on "*".
func accessesOf(service, action string, r *http.Request, caller Identity) []Access {
	acct := caller.Account
	region := RegionOf(r)
	switch service {
	case "s3":
		return []Access{s3Access(r)}
	case "sts":
		if action == "GetCallerIdentity" {
			return nil // AWS answers it whatever the policies say
		}
		form := peekForm(r)
		out := []Access{{Action: "sts:" + action, Resource: orStar(form.Get("RoleArn"))}}
		if action == "AssumeRole" {
			if form.Get("SourceIdentity") != "" {
				out = append(out, Access{Action: "sts:SetSourceIdentity", Resource: out[0].Resource})
			}
			if form.Get("Tags.member.1.Key") != "" {
				out = append(out, Access{Action: "sts:TagSession", Resource: out[0].Resource})
			}
		}
		return out
	case "iam":
		form := peekForm(r)
		res := "*"
		switch {
		case form.Get("RoleName") != "":
			res = "arn:aws:iam::" + acct + ":role/" + form.Get("RoleName")
		case form.Get("UserName") != "":
			res = "arn:aws:iam::" + acct + ":user/" + form.Get("UserName")
		case strings.Contains(caller.ARN, ":user/") && (action == "GetUser" || action == "ListAccessKeys"):
			res = caller.ARN // the caller's own user
		}
		return []Access{{Action: "iam:" + action, Resource: res}}
	case "rds":
		form := peekForm(r)
		res := "*"
		switch {
		case form.Get("DBSnapshotIdentifier") != "":
			res = "arn:aws:rds:" + region + ":" + acct + ":snapshot:" + form.Get("DBSnapshotIdentifier")
		case form.Get("DBClusterSnapshotIdentifier") != "":
			res = "arn:aws:rds:" + region + ":" + acct + ":cluster-snapshot:" + form.Get("DBClusterSnapshotIdentifier")
		case form.Get("ResourceName") != "":
			res = form.Get("ResourceName")
		}
		return []Access{{Action: "rds:" + action, Resource: res}}
	case "ec2":
		form := peekForm(r)
		res := "*"
		switch {
		case form.Get("SnapshotId") != "":
			res = "arn:aws:ec2:" + region + "::snapshot/" + form.Get("SnapshotId")
		case form.Get("ImageId") != "":
			res = "arn:aws:ec2:" + region + "::image/" + form.Get("ImageId")
		}
		return []Access{{Action: "ec2:" + action, Resource: res}}
	case "sso":
		body := peekJSON(r)
		account := "arn:aws:sso:::account/" + firstOf(body["TargetId"], body["AccountId"])
		switch action {
		case "CreateAccountAssignment", "DeleteAccountAssignment", "ListAccountAssignments":
			return []Access{
				{Action: "sso:" + action, Resource: orStar(body["InstanceArn"])},
				{Action: "sso:" + action, Resource: orStar(body["PermissionSetArn"])},
				{Action: "sso:" + action, Resource: account},
			}
		}
		return []Access{{Action: "sso:" + action, Resource: orStar(body["InstanceArn"])}}
	case "kms":
		return []Access{{Action: "kms:" + action, Resource: kmsKeyARN(acct, region, peekJSON(r)["KeyId"])}}
	case "macie2":
		return []Access{{Action: "macie2:" + macieAction(r), Resource: "*"}}
	case "identitystore":
		body := peekJSON(r)
		res := "*"
		if id := body["IdentityStoreId"]; id != "" {
			res = "arn:aws:identitystore::" + acct + ":identitystore/" + id
		}
		return []Access{{Action: "identitystore:" + action, Resource: res}}
	}
	return []Access{{Action: service + ":" + action, Resource: "*"}}
}

// s3Access maps an S3 request to its permission: bucket subresources to
// the bucket's actions, object reads to s3:GetObject, and S3 Control's
// account public access block to the account's.
func s3Access(r *http.Request) Access {
	path := strings.Trim(r.URL.Path, "/")
	if path == strings.Trim(s3ControlPAB, "/") {
		if r.Method == http.MethodGet {
			return Access{Action: "s3:GetAccountPublicAccessBlock", Resource: "*"}
		}
		return Access{Action: "s3:PutAccountPublicAccessBlock", Resource: "*"}
	}
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	sub := ""
	for _, s := range []string{"policyStatus", "policy", "acl", "publicAccessBlock", "tagging", "encryption", "logging", "list-type"} {
		if q.Has(s) {
			sub = s
			break
		}
	}
	verbs := map[string]map[string]string{
		"policy":            {http.MethodGet: "GetBucketPolicy", http.MethodPut: "PutBucketPolicy", http.MethodDelete: "DeleteBucketPolicy"},
		"policyStatus":      {http.MethodGet: "GetBucketPolicyStatus"},
		"acl":               {http.MethodGet: "GetBucketAcl", http.MethodPut: "PutBucketAcl"},
		"publicAccessBlock": {http.MethodGet: "GetBucketPublicAccessBlock", http.MethodPut: "PutBucketPublicAccessBlock", http.MethodDelete: "PutBucketPublicAccessBlock"},
		"tagging":           {http.MethodGet: "GetBucketTagging", http.MethodPut: "PutBucketTagging", http.MethodDelete: "PutBucketTagging"},
		"encryption":        {http.MethodGet: "GetEncryptionConfiguration", http.MethodPut: "PutEncryptionConfiguration"},
		"logging":           {http.MethodGet: "GetBucketLogging", http.MethodPut: "PutBucketLogging"},
		"list-type":         {http.MethodGet: "ListBucket"},
	}
	if sub == "" {
		if key != "" && r.Method == http.MethodGet {
			return Access{Action: "s3:GetObject", Resource: "arn:aws:s3:::" + bucket + "/" + key}
		}
		return Access{Action: "s3:" + r.Method, Resource: "arn:aws:s3:::" + bucket}
	}
	name := verbs[sub][r.Method]
	if name == "" {
		name = r.Method + "?" + sub
	}
	return Access{Action: "s3:" + name, Resource: "arn:aws:s3:::" + bucket}
}

// peekForm parses a query-protocol body and leaves it for the handler.
func peekForm(r *http.Request) url.Values {
	body := peekBody(r)
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return url.Values{}
	}
	return v
}

// peekJSON reads the string fields of a JSON body and leaves it for the
// handler.
func peekJSON(r *http.Request) map[string]string {
	out := map[string]string{}
	var m map[string]any
	if err := json.Unmarshal(peekBody(r), &m); err != nil {
		return out
	}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func peekBody(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
