package corpus

import (
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// actor is a principal that makes calls in the generated stream.
type actor struct {
	kind      string // IAMUser or AssumedRole
	account   string
	name      string // user name or role name
	sessions  []string
	ips       []string
	agents    []string
	principal string
	keyPrefix string
}

var actors = []actor{
	{kind: "IAMUser", account: ProdAccount, name: "BackupManager", ips: []string{"198.51.100.24"},
		agents:    []string{"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/rds.describe-db-snapshots"},
		principal: "AIDAQRSTUVWXYZEXAMPLE", keyPrefix: "AKIAQRSTUVWX"},
	{kind: "IAMUser", account: DevAccount, name: "alice", ips: []string{"203.0.113.17", "203.0.113.18"},
		agents:    []string{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15", "console.amazonaws.com"},
		principal: "AIDAEXAMPLEALICE00001", keyPrefix: "AKIAEXAMPLEA"},
	{kind: "AssumedRole", account: ProdAccount, name: "DataPlatformAdmin", sessions: []string{"jdoe@example.com", "msmith@example.com"},
		ips: []string{"192.0.2.10", "192.0.2.11"}, agents: []string{"aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off", "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.209 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51"},
		principal: "AROAEXAMPLEDATAPLAT01", keyPrefix: "ASIAEXAMPLED"},
	{kind: "AssumedRole", account: ProdAccount, name: "ContractorDeploy", sessions: []string{"vendor-ci-4411"},
		ips: []string{"198.51.100.77"}, agents: []string{"APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.39.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1"},
		principal: "AROAEXAMPLECONTRACT1", keyPrefix: "ASIAEXAMPLEC"},
	{kind: "AssumedRole", account: StagingAccount, name: "OrganizationAccountAccessRole", sessions: []string{"secops-audit"},
		ips: []string{"192.0.2.200"}, agents: []string{"aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0"},
		principal: "AROAEXAMPLEORGACCESS", keyPrefix: "ASIAEXAMPLEO"},
	{kind: "AssumedRole", account: DevAccount, name: "GitHubActionsDeploy", sessions: []string{"GitHubActions"},
		ips: []string{"140.82.112.3", "140.82.112.4", "140.82.112.5"}, agents: []string{"aws-sdk-js/3.525.0 ua/2.0 os/linux#6.5.0-1016-azure lang/js md/nodejs#20.11.1 api/s3#3.525.0"},
		principal: "AROAEXAMPLEGHACTIONS", keyPrefix: "ASIAEXAMPLEG"},
}

var regions = []string{"us-east-1", "us-east-1", "us-east-1", "eu-west-1", "eu-west-1", "us-west-2", "ap-southeast-2"}

var buckets = []string{"prod-customer-exports", "prod-app-logs", "staging-artifacts", "dev-scratch", "analytics-raw-events", "public-website-assets"}

// readCall is one kind of read-only call with its request parameters.
type readCall struct {
	source string
	name   string
	params func(g *generator, region string) any
}

var readCalls = []readCall{
	{"ec2.amazonaws.com", "DescribeInstances", func(g *generator, _ string) any {
		return map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": g.hexID("i-", 17)}}}, "filterSet": map[string]any{}}
	}},
	{"ec2.amazonaws.com", "DescribeSecurityGroups", func(g *generator, _ string) any {
		return map[string]any{"securityGroupSet": map[string]any{}, "securityGroupIdSet": map[string]any{"items": []any{map[string]any{"groupId": g.hexID("sg-", 17)}}}, "filterSet": map[string]any{}}
	}},
	{"ec2.amazonaws.com", "DescribeVolumes", func(g *generator, _ string) any {
		return map[string]any{"volumeSet": map[string]any{}, "filterSet": map[string]any{"items": []any{map[string]any{"name": "attachment.instance-id", "valueSet": map[string]any{"items": []any{map[string]any{"value": g.hexID("i-", 17)}}}}}}}
	}},
	{"ec2.amazonaws.com", "DescribeSnapshots", func(g *generator, _ string) any {
		return map[string]any{"snapshotSet": map[string]any{}, "ownersSet": map[string]any{"items": []any{map[string]any{"owner": "self"}}}, "sharedUsersSet": map[string]any{}, "filterSet": map[string]any{}}
	}},
	{"s3.amazonaws.com", "ListBuckets", func(g *generator, region string) any {
		return map[string]any{"Host": "s3." + region + ".amazonaws.com"}
	}},
	{"s3.amazonaws.com", "GetBucketPolicy", func(g *generator, region string) any {
		b := g.pick(buckets)
		return map[string]any{"bucketName": b, "Host": b + ".s3." + region + ".amazonaws.com", "policy": ""}
	}},
	{"s3.amazonaws.com", "GetBucketAcl", func(g *generator, region string) any {
		b := g.pick(buckets)
		return map[string]any{"bucketName": b, "Host": b + ".s3." + region + ".amazonaws.com", "acl": ""}
	}},
	{"s3.amazonaws.com", "GetBucketLocation", func(g *generator, region string) any {
		b := g.pick(buckets)
		return map[string]any{"bucketName": b, "Host": b + ".s3.amazonaws.com", "location": ""}
	}},
	{"iam.amazonaws.com", "ListRoles", func(g *generator, _ string) any {
		return map[string]any{"maxItems": 100}
	}},
	{"iam.amazonaws.com", "GetUser", func(g *generator, _ string) any {
		return map[string]any{"userName": g.pick([]string{"BackupManager", "alice", "deploy-bot", "bob"})}
	}},
	{"iam.amazonaws.com", "ListAttachedRolePolicies", func(g *generator, _ string) any {
		return map[string]any{"roleName": g.pick([]string{"DataPlatformAdmin", "ContractorDeploy", "GitHubActionsDeploy"})}
	}},
	{"rds.amazonaws.com", "DescribeDBInstances", func(g *generator, _ string) any {
		return map[string]any{"dBInstanceIdentifier": g.pick([]string{"customers-db", "orders-db", "reporting-replica"})}
	}},
	{"rds.amazonaws.com", "DescribeDBSnapshots", func(g *generator, _ string) any {
		return map[string]any{"dBInstanceIdentifier": g.pick([]string{"customers-db", "orders-db"}), "includeShared": false, "includePublic": false}
	}},
	{"rds.amazonaws.com", "DescribeDBClusters", func(g *generator, _ string) any {
		return map[string]any{"dBClusterIdentifier": "aurora-" + g.pick([]string{"billing", "search"})}
	}},
	{"sts.amazonaws.com", "GetCallerIdentity", func(g *generator, _ string) any { return nil }},
}

type generator struct {
	rng *rand.Rand
	now time.Time
	gap time.Duration
	// crowd makes the routine calls and roles are the roles they assume:
	// the six actors, or a larger population (Options.Actors).
	crowd []actor
	roles []actor
}

func newGenerator(seed int64, opts Options) *generator {
	start := opts.Start
	if start.IsZero() {
		start = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	}
	gap := opts.Interval
	if gap <= 0 {
		gap = 250 * time.Millisecond
	}
	g := &generator{rng: rand.New(rand.NewSource(seed)), now: start.UTC(), gap: gap, crowd: actors, roles: actors[2:]}
	if opts.Actors > 0 {
		g.crowd, g.roles = population(seed, opts.Actors, max(opts.Accounts, 1))
	}
	return g
}

// population makes n principals spread over the given number of accounts,
// modelled on the six actors, from their own random source so that the
// default corpus keeps its bytes.
func population(seed int64, n, accounts int) (crowd, roles []actor) {
	rng := rand.New(rand.NewSource(seed ^ 0x5eed))
	ids := make([]string, accounts)
	for i := range ids {
		ids[i] = fmt.Sprintf("4%011d", 10_000_000_000+i*7919)
	}
	upper := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rng.Intn(32)]
		}
		return string(b)
	}
	for i := range n {
		a := actors[i%len(actors)]
		a.name = fmt.Sprintf("%s-%03d", a.name, i)
		a.account = ids[rng.Intn(accounts)]
		a.ips = []string{fmt.Sprintf("198.51.%d.%d", 100+rng.Intn(20), 1+rng.Intn(250)), fmt.Sprintf("203.0.%d.%d", 113+rng.Intn(20), 1+rng.Intn(250))}
		prefix := "AIDA"
		key := "AKIA"
		if a.kind == "AssumedRole" {
			prefix, key = "AROA", "ASIA"
		}
		a.principal = prefix + upper(17)
		a.keyPrefix = key + upper(8)
		crowd = append(crowd, a)
		if a.kind == "AssumedRole" {
			roles = append(roles, a)
		}
	}
	if len(roles) == 0 {
		roles = actors[2:]
	}
	return crowd, roles
}

func (g *generator) pick(s []string) string { return s[g.rng.Intn(len(s))] }

const hexDigits = "0123456789abcdef"

func (g *generator) hexID(prefix string, n int) string {
	var b strings.Builder
	b.Grow(len(prefix) + n)
	b.WriteString(prefix)
	for i := 0; i < n; i++ {
		b.WriteByte(hexDigits[g.rng.Intn(16)])
	}
	return b.String()
}

func (g *generator) upper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.Intn(len(alphabet))]
	}
	return string(b)
}

func (g *generator) uuid() string {
	return g.hexID("", 8) + "-" + g.hexID("", 4) + "-4" + g.hexID("", 3) + "-" +
		string(hexDigits[8+g.rng.Intn(4)]) + g.hexID("", 3) + "-" + g.hexID("", 12)
}

// tick advances the clock by an exponentially distributed gap, as API calls
// arrive roughly as a Poisson process.
func (g *generator) tick() time.Time {
	d := time.Duration(g.rng.ExpFloat64() * float64(g.gap))
	g.now = g.now.Add(d.Truncate(time.Millisecond))
	return g.now
}

func (g *generator) identity(a actor, at time.Time) identity {
	id := identity{Type: a.kind, AccountID: a.account, AccessKeyID: a.keyPrefix + g.upper(8)}
	switch a.kind {
	case "IAMUser":
		id.PrincipalID = a.principal
		id.ARN = fmt.Sprintf("arn:aws:iam::%s:user/%s", a.account, a.name)
		id.UserName = a.name
	default:
		session := g.pick(a.sessions)
		id.PrincipalID = a.principal + ":" + session
		id.ARN = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", a.account, a.name, session)
		id.SessionContext = &sessionContext{
			SessionIssuer: issuer{Type: "Role", PrincipalID: a.principal,
				ARN: fmt.Sprintf("arn:aws:iam::%s:role/%s", a.account, a.name), AccountID: a.account, UserName: a.name},
			WebIDFederationData: map[string]any{},
			Attributes: attributes{CreationDate: at.Add(-time.Duration(g.rng.Intn(3600)) * time.Second).Format(time.RFC3339),
				MFAAuthenticated: "false"},
		}
	}
	return id
}

func (g *generator) base(a actor, source, name, region string) event {
	at := g.tick()
	host := strings.TrimSuffix(source, ".amazonaws.com") + "." + region + ".amazonaws.com"
	if source == "iam.amazonaws.com" {
		host, region = "iam.amazonaws.com", "us-east-1"
	}
	return event{
		EventVersion:       "1.09",
		UserIdentity:       g.identity(a, at),
		EventTime:          at.Format(time.RFC3339),
		EventSource:        source,
		EventName:          name,
		AWSRegion:          region,
		SourceIPAddress:    g.pick(a.ips),
		UserAgent:          g.pick(a.agents),
		RequestID:          g.uuid(),
		EventID:            g.uuid(),
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: a.account,
		EventCategory:      "Management",
		TLSDetails: &tlsDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256",
			ClientProvidedHostHeader: host},
	}
}

// routine is an ordinary read call, occasionally refused.
func (g *generator) routine() event {
	if g.rng.Intn(12) == 0 {
		return g.assumeRole()
	}
	a := g.crowd[g.rng.Intn(len(g.crowd))]
	c := readCalls[g.rng.Intn(len(readCalls))]
	region := g.pick(regions)
	ev := g.base(a, c.source, c.name, region)
	ev.RequestParameters = c.params(g, ev.AWSRegion)
	ev.ReadOnly = true
	if g.rng.Intn(40) == 0 {
		ev.ErrorCode = "AccessDenied"
		ev.ErrorMessage = fmt.Sprintf("User: %s is not authorized to perform: %s:%s", ev.UserIdentity.ARN,
			strings.TrimSuffix(c.source, ".amazonaws.com"), c.name)
	}
	if c.source == "s3.amazonaws.com" {
		ev.AdditionalEventData = map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
			"bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": g.upper(40), "bytesTransferredOut": g.rng.Intn(4000)}
	}
	return ev
}
