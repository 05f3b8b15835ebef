package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// BenchmarkHistory feeds 100,000 events to a new store the way the
// pipeline does in a replay: a chunk at a time, asking which are stored
// (HasEvents) and then storing them (AddEvents).
func BenchmarkHistory(b *testing.B) {
	for _, actors := range []int{6, 400} {
		b.Run(fmt.Sprintf("actors-%d", actors), func(b *testing.B) {
			events := benchEvents(100_000, actors)
			ctx := context.Background()
			for b.Loop() {
				s := New()
				for lo := 0; lo < len(events); lo += 4096 {
					chunk := events[lo:min(lo+4096, len(events))]
					if _, err := s.HasEvents(ctx, chunk); err != nil {
						b.Fatal(err)
					}
					if _, err := s.AddEvents(ctx, chunk); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchEvents is n history rows of the given number of actors, mostly
// reads, with UUID event IDs.
func benchEvents(n, actors int) []store.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	agents := []string{
		"aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
		"console.amazonaws.com",
	}
	apis := []string{"DescribeInstances", "GetObject", "ListRoles", "GetUser", "PutBucketPolicy"}
	t0 := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	out := make([]store.Event, n)
	for i := range out {
		a := rng.IntN(actors)
		var u [16]byte
		for j := range u {
			u[j] = byte(rng.Uint32())
		}
		e := store.Event{
			EventID:   fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]),
			Time:      t0.Add(time.Duration(i) * 250 * time.Millisecond),
			ActorARN:  fmt.Sprintf("arn:aws:iam::4100%08d:role/Deploy-%d", a%50, a),
			EventName: apis[rng.IntN(len(apis))],
			SourceIP:  fmt.Sprintf("198.51.100.%d", a%200),
			UserAgent: agents[a%len(agents)],
			Region:    "us-east-1",
			ReadOnly:  true,
		}
		if e.EventName == "PutBucketPolicy" {
			e.ReadOnly = false
			e.ResourceARN = fmt.Sprintf("arn:aws:s3:::bucket-%d", rng.IntN(1000))
		}
		out[i] = e
	}
	return out
}
