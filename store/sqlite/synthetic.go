package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// LoadSynthetic adds n generated history events from the given number of
// actors, spread evenly over the 90 days before the store's clock, in
// batches of backlogBatch. The same seed gives the same events. It exists to size
// and time the store (benchmarks, capacity checks), not to model any real
// account.
func LoadSynthetic(ctx context.Context, s *Store, n, actors int, seed int64) error {
	if n < 0 || actors <= 0 {
		return fmt.Errorf("load synthetic events: need n >= 0 and actors > 0 (got %d, %d)", n, actors)
	}
	g := newSynth(n, actors, seed, s.clock.Now())
	batch := make([]store.Event, 0, backlogBatch)
	for g.more() {
		batch = g.fill(batch[:0])
		if _, err := s.AddEvents(ctx, batch); err != nil {
			return fmt.Errorf("load synthetic events: %w", err)
		}
	}
	return nil
}

// backlogBatch is the batch the bot stores when it has a backlog: the
// directory source and S3 log files reach the store 8,192 records at a
// time (ingest's maxBatchUnits), one commit each, and the SQS source
// groups waiting messages up to 5,000. Batches of 1,000, the size of an
// unhurried trickle, dirty most of the same pages per commit for an
// eighth of the events.
const backlogBatch = 8192

// synth generates plausible CloudTrail history: each actor has a home
// account, a couple of IPs and user agents it mostly uses, daily sessions
// (access keys), and calls a weighted mix of APIs, some on resources.
type synth struct {
	rng        *rand.Rand
	n, done    int
	start      time.Time
	step       time.Duration
	actors     []synthActor
	resources  int
	apiWeights []int
}

type synthActor struct {
	arn, typ, account, region string
	ips, agents               []string
	sourceIdentity            string
}

var synthAPIs = []struct {
	source, name string
	readOnly     bool
	resource     string // resource ARN format with %d, "" when the call names none
}{
	{"sts.amazonaws.com", "GetCallerIdentity", true, ""},
	{"s3.amazonaws.com", "ListBuckets", true, ""},
	{"s3.amazonaws.com", "GetBucketPolicy", true, "arn:aws:s3:::data-%d"},
	{"s3.amazonaws.com", "GetBucketAcl", true, "arn:aws:s3:::data-%d"},
	{"s3.amazonaws.com", "PutBucketPolicy", false, "arn:aws:s3:::data-%d"},
	{"s3.amazonaws.com", "PutBucketPublicAccessBlock", false, "arn:aws:s3:::data-%d"},
	{"ec2.amazonaws.com", "DescribeInstances", true, ""},
	{"ec2.amazonaws.com", "DescribeSnapshots", true, ""},
	{"ec2.amazonaws.com", "ModifySnapshotAttribute", false, "arn:aws:ec2:us-east-1::snapshot/snap-%017x"},
	{"ec2.amazonaws.com", "DescribeSecurityGroups", true, ""},
	{"rds.amazonaws.com", "DescribeDBInstances", true, ""},
	{"rds.amazonaws.com", "DescribeDBSnapshots", true, ""},
	{"rds.amazonaws.com", "CreateDBSnapshot", false, "arn:aws:rds:us-east-1:111111111111:snapshot:db-%d"},
	{"rds.amazonaws.com", "ModifyDBSnapshotAttribute", false, "arn:aws:rds:us-east-1:111111111111:snapshot:db-%d"},
	{"iam.amazonaws.com", "GetRole", true, "arn:aws:iam::111111111111:role/app-%d"},
	{"iam.amazonaws.com", "ListRoles", true, ""},
	{"iam.amazonaws.com", "PutRolePolicy", false, "arn:aws:iam::111111111111:role/app-%d"},
	{"kms.amazonaws.com", "Decrypt", true, "arn:aws:kms:us-east-1:111111111111:key/%d"},
	{"kms.amazonaws.com", "GenerateDataKey", true, "arn:aws:kms:us-east-1:111111111111:key/%d"},
	{"logs.amazonaws.com", "DescribeLogGroups", true, ""},
	{"lambda.amazonaws.com", "ListFunctions20150331", true, ""},
	{"cloudtrail.amazonaws.com", "LookupEvents", true, ""},
}

var synthAgents = []string{
	"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off",
	"aws-cli/2.13.4 Python/3.11.4 Darwin/23.1.0 exe/x86_64 prompt/off",
	"Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.209 md/arch#x86_64 lang/python#3.11.8",
	"aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
	"APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.39.1",
	"aws-sdk-js/3.525.0 ua/2.0 os/linux#6.5.0-1016-azure lang/js md/nodejs#20.11.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
	"console.amazonaws.com",
	"AWS Internal",
}

var synthRegions = []string{"us-east-1", "us-east-1", "us-east-1", "eu-west-1", "eu-west-1", "us-west-2", "ap-southeast-2"}

const synthDays = 90

func newSynth(n, actors int, seed int64, now time.Time) *synth {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5ec0b5))
	end := now.UTC().Truncate(time.Second)
	g := &synth{
		rng:       rng,
		n:         n,
		start:     end.Add(-synthDays * 24 * time.Hour),
		resources: max(100, n/20),
	}
	if n > 0 {
		g.step = synthDays * 24 * time.Hour / time.Duration(n)
	}
	for i := range actors {
		account := fmt.Sprintf("%012d", 100000000000+rng.IntN(40))
		a := synthActor{account: account, region: synthRegions[rng.IntN(len(synthRegions))]}
		if i%4 == 0 {
			a.typ, a.arn = "IAMUser", fmt.Sprintf("arn:aws:iam::%s:user/user-%d", account, i)
		} else {
			a.typ, a.arn = "AssumedRole", fmt.Sprintf("arn:aws:iam::%s:role/role-%d", account, i)
			if i%10 == 1 {
				a.sourceIdentity = fmt.Sprintf("person-%d@example.com", i)
			}
		}
		for range 1 + rng.IntN(3) {
			a.ips = append(a.ips, fmt.Sprintf("%d.%d.%d.%d", 10+rng.IntN(200), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254)))
		}
		for range 1 + rng.IntN(2) {
			a.agents = append(a.agents, synthAgents[rng.IntN(len(synthAgents))])
		}
		g.actors = append(g.actors, a)
	}
	// Reads dominate real trails; a few APIs take most of the volume.
	for i, api := range synthAPIs {
		w := 1 + (len(synthAPIs)-i)%5
		if api.readOnly {
			w *= 6
		}
		g.apiWeights = append(g.apiWeights, w)
	}
	return g
}

func (g *synth) more() bool { return g.done < g.n }

// fill appends up to cap(batch) events to batch.
func (g *synth) fill(batch []store.Event) []store.Event {
	for len(batch) < cap(batch) && g.done < g.n {
		batch = append(batch, g.event())
		g.done++
	}
	return batch
}

func (g *synth) event() store.Event {
	rng := g.rng
	t := g.start.Add(time.Duration(g.done) * g.step)
	ai := rng.IntN(len(g.actors))
	a := &g.actors[ai]
	api := synthAPIs[g.pickAPI()]
	e := store.Event{
		EventID:     g.uuid(),
		Time:        t,
		Account:     a.account,
		Region:      a.region,
		ActorARN:    a.arn,
		ActorType:   a.typ,
		EventSource: api.source,
		EventName:   api.name,
		SourceIP:    a.ips[rng.IntN(len(a.ips))],
		UserAgent:   a.agents[rng.IntN(len(a.agents))],
		ReadOnly:    api.readOnly,
	}
	day := t.Unix() / 86400
	if a.typ == "IAMUser" {
		e.AccessKeyID = fmt.Sprintf("AKIA%016X", ai)
	} else {
		// A new session, hence a new temporary key, per actor per day.
		e.AccessKeyID = fmt.Sprintf("ASIA%08X%08X", ai, day)
		e.SourceIdentity = a.sourceIdentity
	}
	if api.resource != "" {
		e.ResourceARN = fmt.Sprintf(api.resource, rng.IntN(g.resources))
	}
	switch r := rng.IntN(100); {
	case r < 2:
		e.ErrorCode = "AccessDenied"
	case r < 3:
		e.Region = synthRegions[rng.IntN(len(synthRegions))]
	case r < 4:
		e.SourceIP = fmt.Sprintf("203.0.113.%d", rng.IntN(256))
	}
	return e
}

func (g *synth) pickAPI() int {
	total := 0
	for _, w := range g.apiWeights {
		total += w
	}
	r := g.rng.IntN(total)
	for i, w := range g.apiWeights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(g.apiWeights) - 1
}

// uuid returns a random version 4 UUID in CloudTrail's lowercase form.
func (g *synth) uuid() string {
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
