package replicatest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

// dsnEnv names the PostgreSQL the test runs against; scripts/test.sh sets
// it from scripts/start-postgres.sh.
const dsnEnv = "SECOPS_TEST_POSTGRES_DSN"

// startSQS runs goaws until the test ends.
func startSQS(t *testing.T) *testserver.SQS {
	t.Helper()
	return testserver.StartSQS(t, func(endpoint string) aws.Config {
		return aws.Config{
			Region:       awsRegion,
			Credentials:  credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
			BaseEndpoint: aws.String(endpoint),
		}
	})
}

// freshSchema creates an empty schema for the test, dropped when it ends,
// and returns a DSN whose connections use it; it skips the test when no
// PostgreSQL is configured.
func freshSchema(t *testing.T) string {
	t.Helper()
	return serveproc.FreshSchema(t, dsnEnv, "replicas_")
}

// pendingSlack counts the Slack deliveries not yet done, leased or not:
// an item a killed replica held comes back when its lease runs out.
func pendingSlack(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE done_at IS NULL AND kind LIKE 'slack.%'").Scan(&n); err != nil {
		t.Fatalf("count pending Slack deliveries: %v", err)
	}
	return n
}

// buildBot compiles the secops-bot command once per test run.
func buildBot(t *testing.T) string {
	t.Helper()
	return serveproc.Build(t)
}

// startReplica runs `secops-bot serve` with env on top of a clean
// environment (no SECOPS_ or AWS_ variables of the caller leak in).
func startReplica(t *testing.T, bin, name, config string, env []string) *serveproc.Process {
	t.Helper()
	// SECOPS_REPLICA_LOG_DIR keeps the logs after the test, for a closer
	// look at a failure.
	return serveproc.Start(t, bin, name, config, env, serveproc.Options{
		LogDir:      os.Getenv("SECOPS_REPLICA_LOG_DIR"),
		StopGrace:   10 * time.Second,
		FailureTail: 6 << 10,
	})
}
