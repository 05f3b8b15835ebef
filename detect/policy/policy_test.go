package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		// want lists the indexes of the public statements.
		want []int
		// accounts lists the accounts granted by name.
		accounts []string
		wantErr  bool
	}{
		{
			name:     "kms:CallerAccount pins a key statement to one account",
			policy:   `{"Version":"2012-10-17","Statement":[{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}]}`,
			accounts: []string{"111122223333"},
		},
		{
			name:   "kms:ViaService alone limits nothing",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}`,
			want:   []int{0},
		},
		{
			name:     "aws:PrincipalAccount names the accounts",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":["444455556666","111122223333"]}}}]}`,
			accounts: []string{"444455556666", "111122223333"},
		},
		{
			name:     "aws:SourceOwner names the account",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:Publish","Resource":"*","Condition":{"StringEquals":{"AWS:SourceOwner":"444455556666"}}}]}`,
			accounts: []string{"444455556666"},
		},
		{
			name:     "aws:SourceAccount names the account",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"444455556666"}}}]}`,
			accounts: []string{"444455556666"},
		},
		{
			name:     "the account of aws:PrincipalArn",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::444455556666:role/reporting-*"}}}]}`,
			accounts: []string{"444455556666"},
		},
		{
			name:     "ANDed account keys keep the accounts both allow",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":["444455556666","111122223333"],"aws:PrincipalAccount":"444455556666"}}}]}`,
			accounts: []string{"444455556666"},
		},
		{
			name:   "a bucket's aws:SourceArn pins without naming an account",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::uploads"}}}]}`,
		},
		{
			name:   "aws:username pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:username":"reporting"}}}]}`,
		},
		{
			name:   "a policy variable names no fixed caller",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:username}"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "aws:PrincipalOrgPaths under one organisation pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}}]}`,
		},
		{
			name:   "aws:PrincipalOrgPaths of any organisation is public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-*"}}}]}`,
			want:   []int{0},
		},
		{
			name:     "account principals are granted by name",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","555566667777","arn:aws:iam::444455556666:role/reader","AIDAJQABLZS4A3QDU576Q"]},"Action":"s3:GetObject","Resource":"*"}]}`,
			accounts: []string{"444455556666", "555566667777"},
		},
		{
			name:     "a public statement and a shared one",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:PutObject","Resource":"*"}]}`,
			want:     []int{0},
			accounts: []string{"444455556666"},
		},
		{
			name:   "a denied account is not granted",
			policy: `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:*","Resource":"*"}]}`,
		},
		{
			name:   "principal star without condition",
			policy: `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"}]}`,
			want:   []int{0},
		},
		{
			name:   "AWS star principal",
			policy: `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}}`,
			want:   []int{0},
		},
		{
			name:   "AWS list containing star",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"sqs:SendMessage","Resource":"*"}]}`,
			want:   []int{0},
		},
		{
			name:   "service principal is not public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"*"}]}`,
		},
		{
			name:   "canonical user star is not an AWS wildcard",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"CanonicalUser":"*"},"Action":"s3:GetObject","Resource":"*"}]}`,
		},
		{
			name:     "fixed account principal is not public",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}]}`,
			accounts: []string{"111122223333"},
		},
		{
			name:   "deny with star never makes public",
			policy: `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
		},
		{
			name:   "NotPrincipal with allow is public",
			policy: `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"*"}]}`,
			want:   []int{0},
		},
		{
			name:   "org ID pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}]}`,
		},
		{
			name:   "condition key names are case-insensitive",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"AWS:principalorgid":"o-abc123"}}}]}`,
		},
		{
			name:   "narrow CIDR pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","10.0.0.0/8"]}}}]}`,
		},
		{
			name:   "single address pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}}]}`,
		},
		{
			name:   "all-internet CIDR is public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "one broad CIDR among narrow ones is public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","0.0.0.0/1"]}}}]}`,
			want:   []int{0},
		},
		{
			name:   "IPv6 /32 pins, /16 does not",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}},{"Effect":"Allow","Principal":"*","Action":"b","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"2001::/16"}}}]}`,
			want:   []int{1},
		},
		{
			name:   "NotIpAddress does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "unrelated condition does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "StringLike with wildcard VPC does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:SourceVpc":"vpc-*"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "StringLike without wildcard pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}`,
		},
		{
			name:     "ArnLike with fixed account pins",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}}]}`,
			accounts: []string{"111122223333"},
		},
		{
			name:   "ArnLike with wildcard account is public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:us-east-1:*:alerts"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "ForAnyValue StringLike on principal ARN with wildcard account is public",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalArn":["arn:aws:iam::*:role/Deploy*"]}}}]}`,
			want:   []int{0},
		},
		{
			name:     "ForAnyValue StringEquals pins",
			policy:   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:PrincipalAccount":["111122223333"]}}}]}`,
			accounts: []string{"111122223333"},
		},
		{
			name:   "ForAllValues does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:PrincipalAccount":["111122223333"]}}}]}`,
			want:   []int{0},
		},
		{
			name:   "IfExists does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "userid of a role's sessions pins",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:userid":"AROAEXAMPLEID:*"}}}]}`,
		},
		{
			name:   "StringNotEquals does not pin",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}}]}`,
			want:   []int{0},
		},
		{
			name:   "mixed statements report only the public one",
			policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-test123456"}}},{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}`,
			want:   []int{1},
		},
		{
			name:   "policy as JSON string",
			policy: strconv.Quote(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`),
			want:   []int{0},
		},
		{
			name:   "policy encoded twice",
			policy: strconv.Quote(strconv.Quote(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`)),
			want:   []int{0},
		},
		{
			name:   "element names in other case",
			policy: `{"statement":[{"effect":"allow","principal":"*","action":"s3:GetObject"}]}`,
			want:   []int{0},
		},
		{name: "empty string is an empty policy", policy: `""`},
		{name: "null is an empty policy", policy: `null`},
		{name: "empty object is an empty policy", policy: `{}`},
		{name: "no statements", policy: `{"Version":"2012-10-17","Statement":[]}`},
		{name: "not JSON", policy: `{"Statement":`, wantErr: true},
		{name: "string that is not a policy", policy: `"invalid-json-policy"`, wantErr: true},
		{name: "array at top level", policy: `[1,2]`, wantErr: true},
		{name: "statement is a number", policy: `{"Statement":[1]}`, wantErr: true},
		{name: "principal is a number", policy: `{"Statement":[{"Effect":"Allow","Principal":5,"Action":"x"}]}`, wantErr: true},
		{name: "condition is a list", policy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"x","Condition":[]}]}`, wantErr: true},
		{name: "trailing garbage", policy: `{"Statement":[]} {}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(json.RawMessage(tt.policy))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Evaluate() = %+v, want an error", res)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate() error = %v", err)
			}
			var got []int
			for _, s := range res.Public {
				got = append(got, s.Index)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("public statements = %v, want %v (%s)", got, tt.want, res.Summary())
			}
			if res.IsPublic() != (len(tt.want) > 0) {
				t.Errorf("IsPublic() = %v", res.IsPublic())
			}
			if got := res.Accounts(); !slices.Equal(got, tt.accounts) {
				t.Errorf("Accounts() = %v, want %v", got, tt.accounts)
			}
		})
	}
}

func TestEvaluateExplainsShares(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{
			name:   "account principal",
			policy: `{"Statement":[{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`,
			want:   []string{`statement "PartnerRead" grants s3:GetObject, s3:ListBucket to account 444455556666`, `principal arn:aws:iam::444455556666:root`},
		},
		{
			name:   "everyone limited by a caller account",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"444455556666"}}}]}`,
			want:   []string{`statement #1 grants kms:Decrypt to account 444455556666`, `Principal {"AWS":"*"} limited by kms:CallerAccount 444455556666`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(json.RawMessage(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Shared) != 1 {
				t.Fatalf("shared statements = %+v, want one", res.Shared)
			}
			got := []string{res.Shared[0].Describe(), res.Shared[0].Why}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEvaluateExplains(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{
			name:   "sid and single action",
			policy: `{"Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`,
			want:   `statement "PublicRead" grants s3:GetObject to everyone (Principal "*", no condition)`,
		},
		{
			name:   "no sid, several actions",
			policy: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sqs:SendMessage","sqs:ReceiveMessage"]}]}`,
			want:   `statement #1 grants sqs:SendMessage, sqs:ReceiveMessage to everyone (Principal {"AWS":"*"}, no condition)`,
		},
		{
			name:   "NotAction",
			policy: `{"Statement":[{"Sid":"AllButDelete","Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject"}]}`,
			want:   `statement "AllButDelete" grants every action except s3:DeleteObject to everyone (Principal "*", no condition)`,
		},
		{
			name:   "broad CIDR is named",
			policy: `{"Statement":[{"Sid":"Office","Effect":"Allow","Principal":"*","Action":"s3:*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}`,
			want:   `statement "Office" grants s3:* to everyone (Principal "*", no condition limits who can call (aws:SourceIp 0.0.0.0/0 is too broad))`,
		},
		{
			name:   "NotPrincipal",
			policy: `{"Statement":[{"Sid":"Others","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"*"}]}`,
			want:   `statement "Others" grants every action to everyone (NotPrincipal with Allow: everyone except the listed principals, no condition)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(json.RawMessage(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Summary(); got != tt.want {
				t.Errorf("Summary()\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	private := `{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}`
	public := `{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`
	doc := func(stmts ...string) json.RawMessage {
		s := `{"Version":"2012-10-17","Statement":[`
		for i, st := range stmts {
			if i > 0 {
				s += ","
			}
			s += st
		}
		return json.RawMessage(s + "]}")
	}
	canon := func(s string) string {
		b, err := Canonical(json.RawMessage(s))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name          string
		before, after json.RawMessage
		added         []string
		removed       []string
	}{
		{name: "public statement added", before: doc(private), after: doc(private, public), added: []string{canon(public)}},
		{name: "public statement removed", before: doc(public, private), after: doc(private), removed: []string{canon(public)}},
		{name: "policy created", before: nil, after: doc(public), added: []string{canon(public)}},
		{name: "policy deleted", before: doc(public), after: json.RawMessage(`""`), removed: []string{canon(public)}},
		{
			name:   "reordered keys and statements are no change",
			before: doc(private, public),
			after:  json.RawMessage(strconv.Quote(`{"Statement":[{"Resource":"*","Action":"s3:GetObject","Principal":"*","Effect":"Allow","Sid":"PublicRead"},` + private + `],"Version":"2012-10-17"}`)),
		},
		{name: "duplicate collapsed", before: doc(public, public), after: doc(public), removed: []string{canon(public)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Compare(tt.before, tt.after)
			if err != nil {
				t.Fatal(err)
			}
			if got := rawStrings(d.Added); !slices.Equal(got, tt.added) {
				t.Errorf("added = %v, want %v", got, tt.added)
			}
			if got := rawStrings(d.Removed); !slices.Equal(got, tt.removed) {
				t.Errorf("removed = %v, want %v", got, tt.removed)
			}
			if d.Empty() != (len(tt.added)+len(tt.removed) == 0) {
				t.Errorf("Empty() = %v", d.Empty())
			}
		})
	}
	if _, err := Compare(json.RawMessage(`{`), doc(public)); err == nil {
		t.Error("Compare with a malformed before policy: want an error")
	}
}

func rawStrings(rs []json.RawMessage) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r))
	}
	return out
}

// policySeeds returns the policies held by the event fixtures, so the fuzzer
// starts from the shapes CloudTrail really produces.
func policySeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Params map[string]json.RawMessage `json:"requestParameters"`
		}
		if json.Unmarshal(b, &ev) != nil {
			continue
		}
		for _, k := range []string{"bucketPolicy", "policy", "policyText", "resourcePolicy", "attributeValue"} {
			if v, ok := ev.Params[k]; ok {
				seeds = append(seeds, v)
			}
		}
		var attrs struct {
			Policy json.RawMessage `json:"Policy"`
		}
		if json.Unmarshal(ev.Params["attributes"], &attrs) == nil && attrs.Policy != nil {
			seeds = append(seeds, attrs.Policy)
		}
	}
	return seeds
}

func TestPolicySeedsFound(t *testing.T) {
	if n := len(policySeeds(t)); n < 5 {
		t.Fatalf("found %d policies in the event fixtures, want at least 5", n)
	}
}

func FuzzEvaluate(f *testing.F) {
	for _, s := range policySeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"::ffff:0.0.0.0/96"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Evaluate(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, s := range res.Public {
			if s.Index < 0 || s.Index >= res.Statements || s.Why == "" {
				t.Fatalf("bad public statement %+v of %d", s, res.Statements)
			}
		}
		if _, err := Compare(data, data); err != nil {
			t.Fatalf("Compare of a readable policy failed: %v", err)
		}
	})
}
