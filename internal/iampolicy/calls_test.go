package iampolicy

import (
	"fmt"
	"go/ast"
	"go/types"
	"path"
	"sort"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

// servicePrefix maps an SDK service package to its IAM service prefix.
// A package missing here fails the test, so a new service cannot slip in
// unmapped.
var servicePrefix = map[string]string{
	"s3":            "s3",
	"s3control":     "s3", // S3 Control's actions live under s3:
	"rds":           "rds",
	"ec2":           "ec2",
	"iam":           "iam",
	"sts":           "sts",
	"organizations": "organizations",
	"cloudtrail":    "cloudtrail",
	"sqs":           "sqs",
	"ssoadmin":      "sso",
	"identitystore": "identitystore",
	"kms":           "kms",
	"macie2":        "macie2",
}

// specialActions are operations whose IAM action is not named after them:
//
//   - S3 Control's GetPublicAccessBlock reads the account's block:
//     s3:GetAccountPublicAccessBlock (and Put… likewise).
//   - S3's GetPublicAccessBlock is s3:GetBucketPublicAccessBlock; Put… and
//     Delete… are both authorised by s3:PutBucketPublicAccessBlock.
//   - SQS batch calls have no action of their own: DeleteMessageBatch is
//     sqs:DeleteMessage, ChangeMessageVisibilityBatch is
//     sqs:ChangeMessageVisibility.
var specialActions = map[string]string{
	"s3control:GetPublicAccessBlock":   "s3:GetAccountPublicAccessBlock",
	"s3control:PutPublicAccessBlock":   "s3:PutAccountPublicAccessBlock",
	"s3:GetPublicAccessBlock":          "s3:GetBucketPublicAccessBlock",
	"s3:PutPublicAccessBlock":          "s3:PutBucketPublicAccessBlock",
	"s3:DeletePublicAccessBlock":       "s3:PutBucketPublicAccessBlock",
	"s3:GetObject":                     "s3:GetObject",
	"s3:ListObjectsV2":                 "s3:ListBucket",
	"s3:GetBucketEncryption":           "s3:GetEncryptionConfiguration",
	"s3:GetObjectLockConfiguration":    "s3:GetBucketObjectLockConfiguration",
	"sqs:DeleteMessageBatch":           "sqs:DeleteMessage",
	"sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
	"sqs:SendMessageBatch":             "sqs:SendMessage",
}

// granted without a call of their own: a permission the service checks as
// part of another call. Every entry says which call needs it.
var impliedActions = map[string]string{
	"sts:SetSourceIdentity": "AssumeRole with SourceIdentity (write sessions, break-glass sessions)",
	"sts:TagSession":        "AssumeRole with session tags (write sessions, break-glass sessions)",
	"kms:Decrypt":           "GetObject and ReceiveMessage when the logs or the queue use a KMS key",
	"s3:PutObjectRetention": "PutObject with an Object Lock retention (audit anchors)",
}

// awsCall is one AWS operation the providers call.
type awsCall struct {
	Service string // SDK package name: s3, s3control, ssoadmin
	Op      string // operation: GetPublicAccessBlock
	Pos     string // file:line of the first call
	Pkg     string // the calling package
}

func (c awsCall) action() (string, error) {
	key := c.Service + ":" + c.Op
	if a, ok := specialActions[key]; ok {
		return a, nil
	}
	prefix, ok := servicePrefix[c.Service]
	if !ok {
		return "", fmt.Errorf("%s: service package %q has no IAM prefix in servicePrefix", c.Pos, c.Service)
	}
	return prefix + ":" + c.Op, nil
}

// serviceOf returns the SDK service a package path belongs to ("" when it
// is not a service client package).
func serviceOf(pkg *types.Package) string {
	if pkg == nil {
		return ""
	}
	svc, ok := strings.CutPrefix(pkg.Path(), sdkService)
	if !ok || strings.Contains(svc, "/") {
		return "" // types, document and internal packages hold no operations
	}
	return svc
}

// scanAWSCalls type-checks the packages and finds every AWS operation they
// call, in three shapes:
//
//   - a method of a service's *Client, however the client was obtained
//     (a field, a variable, a helper's result, NewFromConfig inline);
//   - a paginator constructor, New<Op>Paginator;
//   - any call taking a *<service>.<Op>Input, which also catches calls
//     made through an interface the package declares itself.
func scanAWSCalls(t *testing.T, patterns ...string) map[string]awsCall {
	t.Helper()
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:  "../..",
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		t.Fatalf("load %v: %v", patterns, err)
	}
	if n := packages.PrintErrors(pkgs); n > 0 {
		t.Fatalf("load %v: %d errors", patterns, n)
	}
	calls := map[string]awsCall{}
	record := func(p *packages.Package, at ast.Node, svc, op string) {
		key := svc + ":" + op
		if _, ok := calls[key]; ok {
			return
		}
		pos := p.Fset.Position(at.Pos())
		calls[key] = awsCall{Service: svc, Op: op, Pkg: p.PkgPath, Pos: fmt.Sprintf("%s:%d", path.Base(pos.Filename), pos.Line)}
	}
	for _, p := range pkgs {
		for _, f := range p.Syntax {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
					if s, ok := p.TypesInfo.Selections[sel]; ok && s.Kind() == types.MethodVal {
						if named := namedOf(s.Recv()); named != nil && named.Obj().Name() == "Client" {
							if svc := serviceOf(named.Obj().Pkg()); svc != "" {
								record(p, call, svc, sel.Sel.Name)
							}
						}
					}
					if fn, ok := p.TypesInfo.Uses[sel.Sel].(*types.Func); ok {
						if svc := serviceOf(fn.Pkg()); svc != "" {
							if op, ok := strings.CutSuffix(strings.TrimPrefix(fn.Name(), "New"), "Paginator"); ok && strings.HasPrefix(fn.Name(), "New") {
								record(p, call, svc, op)
							}
						}
					}
				}
				for _, arg := range call.Args {
					ptr, ok := p.TypesInfo.TypeOf(arg).(*types.Pointer)
					if !ok {
						continue
					}
					named, ok := ptr.Elem().(*types.Named)
					if !ok {
						continue
					}
					if svc := serviceOf(named.Obj().Pkg()); svc != "" {
						if op, ok := strings.CutSuffix(named.Obj().Name(), "Input"); ok && op != "" {
							record(p, call, svc, op)
						}
					}
				}
				return true
			})
		}
	}
	return calls
}

func namedOf(t types.Type) *types.Named {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := t.(*types.Named)
	return n
}

func allFeatures() Options {
	return Options{
		SQS: true, KMSKeyARN: "arn:aws:kms:eu-west-1:111122223333:key/k",
		StateReads: true, Containment: true, BreakGlassAssumeRole: true, BreakGlassIdentityCenter: true,
		OrgAccounts: true, Backfill: true, Canary: true, CanaryMembers: true, MemberRoleName: "secops-bot-member",
		AuditBucket:         "acme-audit-anchors",
		AccessLogBuckets:    []string{"acme-s3-access-logs"},
		MemberWriteRoleName: "secops-bot-member-write",
	}
}

// covers reports whether an allowed action (possibly with * wildcards)
// grants action. IAM matches actions case-insensitively.
func covers(allowed, action string) bool {
	ok, err := path.Match(strings.ToLower(allowed), strings.ToLower(action))
	return err == nil && ok
}

// TestPoliciesCoverEveryAWSCall is the guard against a provider gaining an
// AWS call its role is not allowed to make: the call would fail only in a
// real account, typically during an incident.
func TestPoliciesCoverEveryAWSCall(t *testing.T) {
	calls := scanAWSCalls(t, "github.com/secops-bot/secops-bot/providers/aws/...")

	// The scan must see each provider's calls, or a broken scan would let
	// everything pass.
	byPkg := map[string]int{}
	for _, c := range calls {
		byPkg[path.Base(c.Pkg)]++
	}
	for _, pkg := range []string{"awsclient", "backfill", "canary", "contain", "grant", "sqsource", "state"} {
		if byPkg[pkg] == 0 {
			t.Errorf("found no AWS calls in providers/aws/%s; the scan is broken", pkg)
		}
	}

	bot, member, write := Policies(allFeatures())
	granted := append(append(bot.Actions(), member.Actions()...), write.Actions()...)
	needed := map[string]bool{}
	var missing []string
	for _, c := range sortedCalls(calls) {
		action, err := c.action()
		if err != nil {
			t.Error(err)
			continue
		}
		needed[strings.ToLower(action)] = true
		ok := false
		for _, g := range granted {
			if covers(g, action) {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (%s.%s at %s)", action, c.Service, c.Op, c.Pos))
		}
	}
	if len(missing) > 0 {
		t.Errorf("AWS calls not covered by the policies with every feature on:\n  %s", strings.Join(missing, "\n  "))
	}

	// Least privilege the other way round: every granted action is used.
	var unused []string
	for _, g := range dedupe(granted) {
		if !needed[strings.ToLower(g)] && impliedActions[g] == "" {
			unused = append(unused, g)
		}
	}
	if len(unused) > 0 {
		t.Errorf("actions granted that no call needs (remove them, or document them in impliedActions):\n  %s", strings.Join(unused, "\n  "))
	}
}

func sortedCalls(m map[string]awsCall) []awsCall {
	out := make([]awsCall, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service+out[i].Op < out[j].Service+out[j].Op })
	return out
}

func TestCallAction(t *testing.T) {
	tests := []struct {
		name string
		call awsCall
		want string
	}{
		{"plain", awsCall{Service: "rds", Op: "DescribeDBSnapshots"}, "rds:DescribeDBSnapshots"},
		{"account public access block", awsCall{Service: "s3control", Op: "GetPublicAccessBlock"}, "s3:GetAccountPublicAccessBlock"},
		{"bucket public access block", awsCall{Service: "s3", Op: "GetPublicAccessBlock"}, "s3:GetBucketPublicAccessBlock"},
		{"delete bucket public access block", awsCall{Service: "s3", Op: "DeletePublicAccessBlock"}, "s3:PutBucketPublicAccessBlock"},
		{"sqs batch", awsCall{Service: "sqs", Op: "DeleteMessageBatch"}, "sqs:DeleteMessage"},
		{"identity center prefix", awsCall{Service: "ssoadmin", Op: "CreateAccountAssignment"}, "sso:CreateAccountAssignment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call.action()
			if err != nil || got != tt.want {
				t.Errorf("action() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := (awsCall{Service: "lambda", Op: "Invoke"}).action(); err == nil {
		t.Error("an unmapped service was accepted")
	}
}

// dedupe sorts a list and drops repeats.
func dedupe(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	n := 1
	for _, s := range out[1:] {
		if s != out[n-1] {
			out[n] = s
			n++
		}
	}
	return out[:n]
}
