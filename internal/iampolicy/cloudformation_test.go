package iampolicy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich/exposure"
)

const cfnDir = "../../deploy/cloudformation"

// template is a CloudFormation template evaluated for one set of
// parameter values: conditions decided, Fn::If taken, AWS::NoValue
// dropped. Fn::Sub, Fn::GetAtt and Ref to resources stay as written.
type template struct {
	raw        map[string]any
	params     map[string]any
	conditions map[string]bool
}

// loadTemplate reads a template, turning the short-form tags (!Ref, !Sub,
// !GetAtt, !If…) into their long forms as CloudFormation does.
func loadTemplate(t *testing.T, name string, params map[string]string) *template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(cfnDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	raw, err := cfnValue(doc.Content[0])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tpl := &template{raw: raw.(map[string]any), params: map[string]any{}, conditions: map[string]bool{}}
	for pname, p := range asMap(tpl.raw["Parameters"]) {
		if v, ok := params[pname]; ok {
			tpl.params[pname] = v
		} else if def, ok := asMap(p)["Default"]; ok {
			tpl.params[pname] = def
		} else {
			t.Fatalf("%s: parameter %s has no default and no value in the test", name, pname)
		}
	}
	for pname := range params {
		if _, ok := tpl.params[pname]; !ok {
			t.Fatalf("%s: the test sets parameter %s, which the template does not declare", name, pname)
		}
	}
	conds := asMap(tpl.raw["Conditions"])
	var decide func(string, int) bool
	decide = func(c string, depth int) bool {
		if v, ok := tpl.conditions[c]; ok {
			return v
		}
		if depth > len(conds) {
			t.Fatalf("%s: condition %s refers to itself", name, c)
		}
		v, err := tpl.boolean(conds[c], func(n string) bool { return decide(n, depth+1) })
		if err != nil {
			t.Fatalf("%s: condition %s: %v", name, c, err)
		}
		tpl.conditions[c] = v
		return v
	}
	for c := range conds {
		decide(c, 0)
	}
	return tpl
}

func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		v = n.Value
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	switch fn := tag[1:]; fn {
	case "Ref", "Condition":
		return map[string]any{fn: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	case "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split", "FindInMap", "GetAZs", "ImportValue", "Base64", "Cidr":
		return map[string]any{"Fn::" + fn: v}, nil
	default:
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, tag)
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// intrinsic returns the function name and argument of a one-key map such
// as {"Fn::If": [...]}.
func intrinsic(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, arg := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, arg, true
		}
	}
	return "", nil, false
}

func (tpl *template) boolean(v any, cond func(string) bool) (bool, error) {
	fn, arg, ok := intrinsic(v)
	if !ok {
		return false, fmt.Errorf("%v is not a condition function", v)
	}
	args, _ := arg.([]any)
	switch fn {
	case "Condition":
		return cond(arg.(string)), nil
	case "Fn::Equals":
		if len(args) != 2 {
			return false, fmt.Errorf("Fn::Equals takes two values")
		}
		return reflect.DeepEqual(tpl.resolve(args[0]), tpl.resolve(args[1])), nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		var vals []bool
		for _, a := range args {
			b, err := tpl.boolean(a, cond)
			if err != nil {
				return false, err
			}
			vals = append(vals, b)
		}
		switch fn {
		case "Fn::Not":
			return len(vals) == 1 && !vals[0], nil
		case "Fn::And":
			for _, b := range vals {
				if !b {
					return false, nil
				}
			}
			return true, nil
		default:
			for _, b := range vals {
				if b {
					return true, nil
				}
			}
			return false, nil
		}
	}
	return false, fmt.Errorf("%s is not a condition function", fn)
}

// noValue marks what Ref AWS::NoValue removes.
type noValue struct{}

// resolve evaluates Fn::If and Ref to parameters and AWS::NoValue.
func (tpl *template) resolve(v any) any {
	if fn, arg, ok := intrinsic(v); ok {
		switch fn {
		case "Ref":
			name, _ := arg.(string)
			if name == "AWS::NoValue" {
				return noValue{}
			}
			if p, ok := tpl.params[name]; ok {
				return p
			}
			return v
		case "Fn::If":
			args, _ := arg.([]any)
			if len(args) == 3 {
				c, _ := args[0].(string)
				if tpl.conditions[c] {
					return tpl.resolve(args[1])
				}
				return tpl.resolve(args[2])
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if r := tpl.resolve(e); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if r := tpl.resolve(e); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

// resource returns a resource's resolved properties, or nil when its
// condition leaves it out.
func (tpl *template) resource(t *testing.T, name string) map[string]any {
	t.Helper()
	r := asMap(asMap(tpl.raw["Resources"])[name])
	if r == nil {
		t.Fatalf("no resource %s", name)
	}
	if c, ok := r["Condition"].(string); ok && !tpl.conditions[c] {
		return nil
	}
	return asMap(tpl.resolve(r["Properties"]))
}

// statementSig is what the templates must match of a statement: its
// effect, its sorted actions and its condition (as canonical JSON).
type statementSig struct {
	Effect    string
	Actions   []string
	Condition string
}

func canonical(v any) string {
	if v == nil {
		return ""
	}
	raw, _ := json.Marshal(v) // decoded YAML and maps of strings
	var x any
	_ = json.Unmarshal(raw, &x)
	raw, _ = json.Marshal(x)
	return string(raw)
}

// templateStatements maps each statement's Sid to its effect, sorted
// actions and condition, for a role's inline policies or an
// AWS::IAM::Policy's document.
func templateStatements(t *testing.T, role map[string]any) map[string]statementSig {
	t.Helper()
	out := map[string]statementSig{}
	if role == nil {
		return out
	}
	policies, _ := role["Policies"].([]any)
	if doc, ok := role["PolicyDocument"]; ok {
		// An AWS::IAM::Policy resource rather than a role.
		policies = append(policies, map[string]any{"PolicyDocument": doc})
	}
	for _, p := range policies {
		for _, s := range asMap(asMap(p)["PolicyDocument"])["Statement"].([]any) {
			st := asMap(s)
			sid, _ := st["Sid"].(string)
			if sid == "" {
				t.Errorf("a statement of the role has no Sid: %v", st)
			}
			var actions []string
			switch a := st["Action"].(type) {
			case string:
				actions = []string{a}
			case []any:
				for _, e := range a {
					actions = append(actions, e.(string))
				}
			}
			sort.Strings(actions)
			effect, _ := st["Effect"].(string)
			out[sid] = statementSig{Effect: effect, Actions: actions, Condition: canonical(st["Condition"])}
		}
	}
	return out
}

func docStatements(d Document) map[string]statementSig {
	out := map[string]statementSig{}
	for _, s := range d.Statement {
		var cond any
		if s.Condition != nil {
			cond = s.Condition
		}
		out[s.Sid] = statementSig{Effect: s.Effect, Actions: s.Action, Condition: canonical(cond)}
	}
	return out
}

func diffStatements(t *testing.T, what string, got, want map[string]statementSig) {
	t.Helper()
	for sid, w := range want {
		if g, ok := got[sid]; !ok {
			t.Errorf("%s: statement %s is missing; want %s %v", what, sid, w.Effect, w.Actions)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: statement %s\n got %+v\nwant %+v", what, sid, g, w)
		}
	}
	for sid, g := range got {
		if _, ok := want[sid]; !ok {
			t.Errorf("%s: statement %s (%s %v) is not in the Go policy", what, sid, g.Effect, g.Actions)
		}
	}
}

func TestMemberRoleTemplateMatchesPolicy(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		opts   Options
	}{
		{"defaults", nil, Options{StateReads: true, Containment: true, Backfill: true}},
		{"everything", map[string]string{"BreakGlassAssumeRole": "true", "BreakGlassIdentityCenter": "true"},
			Options{StateReads: true, Containment: true, Backfill: true, BreakGlassAssumeRole: true, BreakGlassIdentityCenter: true}},
		{"read only", map[string]string{"Containment": "false", "Backfill": "false"}, Options{StateReads: true}},
		{"identity center account", map[string]string{"StateReads": "false", "Containment": "false", "Backfill": "false", "BreakGlassIdentityCenter": "true"},
			Options{BreakGlassIdentityCenter: true}},
		{"break-glass roles only", map[string]string{"StateReads": "false", "Containment": "false", "Backfill": "false", "BreakGlassAssumeRole": "true"},
			Options{BreakGlassAssumeRole: true}},
		{"nothing", map[string]string{"StateReads": "false", "Containment": "false", "Backfill": "false"}, Options{}},
		{"canary", map[string]string{"Canary": "true"}, Options{StateReads: true, Containment: true, Backfill: true, CanaryMembers: true}},
		{"canary only", map[string]string{"StateReads": "false", "Containment": "false", "Backfill": "false", "Canary": "true"},
			Options{CanaryMembers: true}},
		{"access logs", map[string]string{"AccessLogBucket": "acme-s3-access-logs"},
			Options{StateReads: true, Containment: true, Backfill: true, AccessLogBuckets: []string{"acme-s3-access-logs"}}},
		{"access logs without state reads", map[string]string{"AccessLogBucket": "acme-s3-access-logs", "StateReads": "false"},
			Options{Containment: true, Backfill: true, AccessLogBuckets: []string{"acme-s3-access-logs"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"BotRoleArn": "arn:aws:iam::111122223333:role/bot"}
			for k, v := range tt.params {
				params[k] = v
			}
			tpl := loadTemplate(t, "member-role.yaml", params)
			tt.opts.MemberRoleName, tt.opts.MemberWriteRoleName = "secops-bot-member", "secops-bot-member-write"
			_, member, write := Policies(tt.opts)
			diffStatements(t, "member-role.yaml MemberRole", templateStatements(t, tpl.resource(t, "MemberRole")), docStatements(member))
			diffStatements(t, "member-role.yaml MemberWriteRole", templateStatements(t, tpl.resource(t, "MemberWriteRole")), docStatements(write))
		})
	}
}

// TestMemberRoleTemplateGuards: the Deny statements of both roles name the
// bot's roles in the account and the bot's own role, and the break-glass
// roles; a permissions boundary, when given, bounds both roles.
func TestMemberRoleTemplateGuards(t *testing.T) {
	for _, boundary := range []string{"", "arn:aws:iam::111122223333:policy/secops-boundary"} {
		tpl := loadTemplate(t, "member-role.yaml", map[string]string{
			"BotRoleArn": "arn:aws:iam::111122223333:role/bot", "BreakGlassAssumeRole": "true",
			"BreakGlassRoleNames": "secops-breakglass-*", "PermissionsBoundaryArn": boundary,
		})
		own := []any{
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"},
			map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${WriteRoleName}"},
			"arn:aws:iam::111122223333:role/bot",
		}
		trust := []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BreakGlassRoleNames}"}}
		for _, name := range []string{"MemberRole", "MemberWriteRole"} {
			role := tpl.resource(t, name)
			if role == nil {
				t.Fatalf("%s is not created", name)
			}
			got := map[string]any{}
			for _, p := range role["Policies"].([]any) {
				for _, s := range asMap(asMap(p)["PolicyDocument"])["Statement"].([]any) {
					st := asMap(s)
					if st["Effect"] == "Deny" {
						got[st["Sid"].(string)] = st["Resource"]
					}
				}
			}
			want := map[string]any{SidDenyBotChanges: own, SidDenyBotTags: own, SidDenyTrustChanges: trust}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s denies on\n%v\nwant\n%v", name, got, want)
			}
			pb, set := role["PermissionsBoundary"]
			if boundary == "" && set || boundary != "" && pb != boundary {
				t.Errorf("%s permissions boundary = %v, want %q", name, pb, boundary)
			}
		}
	}
}

func TestMemberRoleTrust(t *testing.T) {
	tests := []struct {
		name       string
		externalID string
	}{
		{"without external ID", ""},
		{"with external ID", "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := loadTemplate(t, "member-role.yaml", map[string]string{"ExternalId": tt.externalID, "BotRoleArn": "arn:aws:iam::111122223333:role/bot"})
			for _, r := range []struct {
				name    string
				actions any
				// sourceIdentity: the role can be assumed only with one.
				sourceIdentity bool
			}{
				{"MemberRole", "sts:AssumeRole", false},
				{"MemberWriteRole", []any{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}, true},
			} {
				role := tpl.resource(t, r.name)
				stmts := asMap(role["AssumeRolePolicyDocument"])["Statement"].([]any)
				if len(stmts) != 1 {
					t.Fatalf("%s: trust has %d statements, want 1", r.name, len(stmts))
				}
				st := asMap(stmts[0])
				if p := asMap(st["Principal"])["AWS"]; p != "arn:aws:iam::111122223333:role/bot" {
					t.Errorf("%s: trusted principal = %v, want the bot role", r.name, p)
				}
				if !reflect.DeepEqual(st["Action"], r.actions) {
					t.Errorf("%s: trusted for %v, want %v", r.name, st["Action"], r.actions)
				}
				cond := asMap(st["Condition"])
				got := asMap(cond["StringEquals"])["sts:ExternalId"]
				if tt.externalID != "" && got != tt.externalID || tt.externalID == "" && got != nil {
					t.Errorf("%s: sts:ExternalId = %v, want %q", r.name, got, tt.externalID)
				}
				si := asMap(cond["StringLike"])["sts:SourceIdentity"]
				if r.sourceIdentity && si != "*" || !r.sourceIdentity && si != nil {
					t.Errorf("%s: sts:SourceIdentity condition = %v, want it required: %v", r.name, si, r.sourceIdentity)
				}
				if !r.sourceIdentity && tt.externalID == "" && st["Condition"] != nil {
					t.Errorf("%s: condition = %v, want none", r.name, st["Condition"])
				}
			}
		})
	}
}

func TestBotRoleTemplateMatchesPolicy(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		opts   Options
	}{
		{"defaults", nil, Options{}},
		{"organization and key", map[string]string{"OrgAccounts": "true", "KMSKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/k"},
			Options{OrgAccounts: true, KMSKeyARN: "arn:aws:kms:eu-west-1:111122223333:key/k"}},
		{"canary", map[string]string{"Canary": "true"}, Options{Canary: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := loadTemplate(t, "secops-bot.yaml", tt.params)
			got := templateStatements(t, tpl.resource(t, "BotRole"))
			// The canary's statements are a policy of their own, which
			// can name the role's generated ARN.
			canary := tpl.resource(t, "BotCanaryPolicy")
			maps.Copy(got, templateStatements(t, canary))
			if tt.opts.Canary {
				st := asMap(asMap(canary["PolicyDocument"])["Statement"].([]any)[0])
				if want := []any{map[string]any{"Fn::GetAtt": []any{"BotRole", "Arn"}}}; !reflect.DeepEqual(st["Resource"], want) {
					t.Errorf("the canary may tag %v, want only the bot's role", st["Resource"])
				}
				tt.opts.BotARN = "arn:aws:iam::111122223333:role/secops-bot-BotRole-ABC"
			}
			// The stack always creates the queue, and the member role
			// always exists.
			tt.opts.SQS, tt.opts.StateReads, tt.opts.MemberRoleName = true, true, "secops-bot-member"
			tt.opts.Containment, tt.opts.MemberWriteRoleName = true, "secops-bot-member-write"
			bot, _, _ := Policies(tt.opts)
			diffStatements(t, "secops-bot.yaml BotRole", got, docStatements(bot))
		})
	}
}

// eventPattern is the narrow CloudTrail rule's pattern: its sources and
// its event names (prefix matches kept as "prefix*").
func eventPattern(t *testing.T) (sources, names []string) {
	t.Helper()
	tpl := loadTemplate(t, "secops-bot.yaml", map[string]string{"ForwardAllWriteEvents": "false"})
	p := asMap(tpl.resource(t, "CloudTrailEventsRule")["EventPattern"])
	if dt := p["detail-type"]; !reflect.DeepEqual(dt, []any{"AWS API Call via CloudTrail"}) {
		t.Errorf("detail-type = %v", dt)
	}
	for _, s := range p["source"].([]any) {
		sources = append(sources, s.(string))
	}
	for _, n := range asMap(p["detail"])["eventName"].([]any) {
		switch x := n.(type) {
		case string:
			names = append(names, x)
		case map[string]any:
			pre, ok := x["prefix"].(string)
			if !ok {
				t.Fatalf("eventName matcher %v is not a prefix", x)
			}
			names = append(names, pre+"*")
		}
	}
	return sources, names
}

// TestEventRuleCoversDetection fails when a detection rule evaluates an
// event the EventBridge rule would never deliver: the rule would silently
// never fire in production.
func TestEventRuleCoversDetection(t *testing.T) {
	sources, names := eventPattern(t)
	matches := func(event string) bool {
		for _, n := range names {
			if pre, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(event, pre) || n == event {
				return true
			}
		}
		return false
	}
	rules := detect.NewEngine(nil).Rules()
	if len(rules) == 0 {
		t.Fatal("detect reports no rules")
	}
	for _, r := range rules {
		for _, e := range r.Events {
			if !matches(e) {
				t.Errorf("rule %s evaluates %s, which CloudTrailEventsRule does not match", r.ID, e)
			}
		}
	}
	// Lambda's versioned names must match too.
	if !matches("AddPermission20150331v2") {
		t.Error("AddPermission20150331v2 (Lambda) is not matched")
	}

	// Every event source detect checks must be in the pattern.
	want := detectSources(t)
	have := map[string]bool{}
	for _, s := range sources {
		have[s] = true
	}
	for _, s := range want {
		if !have[s] {
			t.Errorf("detect reads events from %s, which CloudTrailEventsRule's sources leave out", s)
		}
	}
}

// detectSources lists the event sources named in detect's code
// ("s3.amazonaws.com" → aws.s3).
func detectSources(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`^([a-z0-9-]+)\.amazonaws\.com$`)
	fset := token.NewFileSet()
	files, err := filepath.Glob("../../detect/*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil {
				if m := re.FindStringSubmatch(s); m != nil && m[1] != "acs" {
					seen["aws."+m[1]] = true
				}
			}
			return true
		})
	}
	if len(seen) == 0 {
		t.Fatal("found no event sources in detect; the scan is broken")
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestQueueSetup(t *testing.T) {
	tpl := loadTemplate(t, "secops-bot.yaml", nil)
	q := tpl.resource(t, "EventQueue")
	redrive := asMap(q["RedrivePolicy"])
	if redrive["maxReceiveCount"] != "5" {
		t.Errorf("maxReceiveCount = %v, want 5", redrive["maxReceiveCount"])
	}
	if !reflect.DeepEqual(redrive["deadLetterTargetArn"], map[string]any{"Fn::GetAtt": []any{"DeadLetterQueue", "Arn"}}) {
		t.Errorf("dead-letter target = %v, want DeadLetterQueue", redrive["deadLetterTargetArn"])
	}
	// Every rule that targets the queue must be allowed to send to it.
	policy := tpl.resource(t, "EventQueuePolicy")
	st := asMap(asMap(policy["PolicyDocument"])["Statement"].([]any)[0])
	allowed := asMap(asMap(st["Condition"])["ArnEquals"])["aws:SourceArn"]
	for name, r := range asMap(tpl.raw["Resources"]) {
		if asMap(r)["Type"] != "AWS::Events::Rule" {
			continue
		}
		want := map[string]any{"Fn::GetAtt": []any{name, "Arn"}}
		found := false
		for _, a := range allowed.([]any) {
			found = found || reflect.DeepEqual(a, want)
		}
		if !found {
			t.Errorf("rule %s targets the queue but the queue policy does not allow it", name)
		}
	}
}

// TestCanaryEventReachesTheQueue: the canary's own event (IAM TagRole or
// TagUser, emitted in us-east-1 only) must be forwarded from us-east-1 by
// default and matched by a rule that targets the queue, or every canary
// would go missing in a healthy deployment.
func TestCanaryEventReachesTheQueue(t *testing.T) {
	fwd := loadTemplate(t, "global-forwarder.yaml", map[string]string{"TargetEventBusArn": "arn:aws:events:eu-west-1:111122223333:event-bus/default"})
	forwarded := false
	for _, s := range strings.Split(fwd.params["ForwardSources"].(string), ",") {
		forwarded = forwarded || s == "aws.iam"
	}
	if !forwarded {
		t.Errorf("global-forwarder.yaml does not forward aws.iam by default (ForwardSources = %v)", fwd.params["ForwardSources"])
	}

	for _, forwardAll := range []string{"false", "true"} {
		tpl := loadTemplate(t, "secops-bot.yaml", map[string]string{"ForwardAllWriteEvents": forwardAll})
		for _, event := range []string{"TagRole", "TagUser"} {
			matched := false
			for name, r := range asMap(tpl.raw["Resources"]) {
				if asMap(r)["Type"] != "AWS::Events::Rule" {
					continue
				}
				props := tpl.resource(t, name)
				if targetsQueue(props) && patternMatches(asMap(props["EventPattern"]), "aws.iam", "AWS API Call via CloudTrail", event) {
					matched = true
				}
			}
			if !matched {
				t.Errorf("ForwardAllWriteEvents=%s: no rule sends IAM %s (the canary's event) to the queue", forwardAll, event)
			}
		}
	}
}

func targetsQueue(rule map[string]any) bool {
	for _, tg := range rule["Targets"].([]any) {
		if reflect.DeepEqual(asMap(tg)["Arn"], map[string]any{"Fn::GetAtt": []any{"EventQueue", "Arn"}}) {
			return true
		}
	}
	return false
}

// patternMatches evaluates the parts of an EventBridge pattern these
// templates use: source, detail-type, and detail.eventName (exact values
// and prefixes) and detail.readOnly, for a write management event.
func patternMatches(p map[string]any, source, detailType, eventName string) bool {
	in := func(list any, v string) bool {
		l, ok := list.([]any)
		if !ok {
			return list == nil
		}
		for _, e := range l {
			switch x := e.(type) {
			case string:
				if x == v {
					return true
				}
			case map[string]any:
				if pre, ok := x["prefix"].(string); ok && strings.HasPrefix(v, pre) {
					return true
				}
			}
		}
		return false
	}
	detail := asMap(p["detail"])
	readOnly := true
	if ro, ok := detail["readOnly"].([]any); ok {
		readOnly = false
		for _, v := range ro {
			readOnly = readOnly || v == "false"
		}
	}
	return in(p["source"], source) && in(p["detail-type"], detailType) && in(detail["eventName"], eventName) && readOnly
}

// TestDataReadsRuleForwardsEveryRead: with ForwardDataReads on, every
// event a review reads reaches the queue; off, the rule exists but is
// disabled.
func TestDataReadsRuleForwardsEveryRead(t *testing.T) {
	for _, on := range []string{"true", "false"} {
		tpl := loadTemplate(t, "secops-bot.yaml", map[string]string{"ForwardDataReads": on})
		rule := tpl.resource(t, "DataReadsRule")
		if want := map[string]string{"true": "ENABLED", "false": "DISABLED"}[on]; rule["State"] != want {
			t.Errorf("ForwardDataReads=%s: rule state %v, want %s", on, rule["State"], want)
		}
		if !targetsQueue(rule) {
			t.Error("DataReadsRule does not target the queue")
		}
		for src, names := range exposure.ReadEvents() {
			source := "aws." + strings.TrimSuffix(src, ".amazonaws.com")
			for _, n := range names {
				if !patternMatches(asMap(rule["EventPattern"]), source, "AWS API Call via CloudTrail", n) {
					t.Errorf("DataReadsRule does not match %s %s", source, n)
				}
			}
		}
	}
}
