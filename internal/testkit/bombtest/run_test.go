package bombtest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "modernc.org/sqlite" // read-only peeks into the bot's store while it runs

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

const (
	appToken     = "xapp-bomb-test"
	botToken     = "xoxb-bomb-test"
	awsRegion    = "eu-west-1"
	botAccessKey = "AKIDSECOPSBOMBTEST01"
	botSecretKey = "bomb-test-secret"
	trailBucket  = "org-trail-logs"
)

// cleanEnv is the test's environment without its SECOPS_ and AWS_
// variables, so that none leaks into the bot.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECOPS_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// setAside maps each input's file name to the reasons it was set aside.
type setAside map[string][]string

// checkBombs checks that every bomb was set aside with the reason its cap
// gives, and reports what else was.
func checkBombs(t *testing.T, got setAside) {
	t.Helper()
	for _, b := range bombs {
		found := false
		for _, r := range got[b.name] {
			found = found || strings.Contains(r, b.reason)
		}
		if !found {
			t.Errorf("%s set aside for %q, want a reason containing %q", b.name, got[b.name], b.reason)
		}
	}
	if len(got["good.json.gz"]) > 0 {
		t.Errorf("the good file was set aside: %q", got["good.json.gz"])
	}
}

func TestReplaySetsBombsAside(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bot and has it read 2 GiB of bombs")
	}
	bin := serveproc.Build(t)
	dir := t.TempDir()
	writeInputs(t, dir, time.Date(2024, 3, 5, 3, 0, 0, 0, time.UTC))

	var stdout, stderr bytes.Buffer
	began := time.Now()
	peak, err := runMeasured(t, cleanEnv(), &stdout, &stderr,
		bin, "--config", filepath.Join("..", "..", "..", "config.example.yaml"), "replay", "--format", "json", dir)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	took := time.Since(began)
	t.Logf("replay of two %d MiB bombs and a log file: peak RSS %.0f MiB, %v", bombSize>>20, mib(peak), took.Round(100*time.Millisecond))
	if peak >= peakTarget {
		t.Errorf("replay peaked at %.0f MiB, over the %d MiB target", mib(peak), peakTarget>>20)
	}

	// Each input set aside is named on stderr with its reason.
	logs := stderr.String()
	got := setAside{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var entry struct{ Message, Source, Reason string }
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Message == "malformed input set aside in quarantine" {
			got[filepath.Base(entry.Source)] = append(got[filepath.Base(entry.Source)], entry.Reason)
		}
	}
	checkBombs(t, got)
	if !strings.Contains(logs, "replayed 2 events from 3 files") {
		t.Errorf("summary: %s", logs)
	}
	var f struct {
		Rule  string
		Event struct{ ID string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil || f.Rule != goodRule || f.Event.ID != goodEventID {
		t.Errorf("findings printed: %s, want the good file's %s (%v)", stdout.String(), goodRule, err)
	}
}

// workspace is the Slack emulator with the channels the example
// configuration routes to.
func workspace(t *testing.T) (*slackemu.Server, string) {
	t.Helper()
	emu := slackemu.New(slackemu.Options{TeamID: "T0WORKSPACE", BotToken: botToken, AppToken: appToken})
	emu.Start()
	t.Cleanup(emu.Close)
	secops := emu.PutChannel(slackemu.Channel{Name: "secops"})
	for _, name := range []string{"secops-approvals", "team-payments", "team-data"} {
		emu.PutChannel(slackemu.Channel{Name: name})
	}
	for _, g := range []string{"secops-responders", "secops-managers", "secops-admins"} {
		emu.PutUsergroup(slackemu.Usergroup{Handle: g, Users: []string{}})
	}
	return emu, secops
}

// serveConfig writes the example configuration for a serve on SQLite
// behind the emulator, with edit's changes to the ingest section.
func serveConfig(t *testing.T, emu *slackemu.Server, db string, ingest map[string]any) string {
	t.Helper()
	return serveproc.Config(t, func(section func(string) map[string]any) {
		section("slack")["api_url"] = emu.APIURL()
		section("store")["driver"] = "sqlite"
		section("store")["dsn"] = db
		in := section("ingest")
		in["dir"] = ""
		in["sqs_queue_url"] = ""
		for k, v := range ingest {
			in[k] = v
		}
		// Reading AWS state is not what this test is about.
		section("aws")["enabled"] = false
		section("aws")["region"] = awsRegion
		section("metrics")["listen"] = ""
		fh := section("feed_health")
		fh["max_silence"] = "0s"
		fh["accounts_regions"] = []any{}
	})
}

// peek runs query on the bot's store while the bot runs, on a read-only
// connection of its own, which SQLite's WAL mode allows beside the bot's
// writer, and calls row for each row. It does nothing before the store
// and its schema exist.
func peek(t *testing.T, db, query string, row func(*sql.Rows) error) {
	t.Helper()
	if _, err := os.Stat(db); err != nil {
		return
	}
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(query)
	if err != nil {
		return // the schema may not exist yet
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			t.Fatal(err)
		}
	}
}

// quarantined is what the bot's store holds in quarantine, by file name.
func quarantined(t *testing.T, db string) setAside {
	t.Helper()
	got := setAside{}
	peek(t, db, "SELECT source, reason FROM quarantine", func(rows *sql.Rows) error {
		var source, reason string
		if err := rows.Scan(&source, &reason); err != nil {
			return err
		}
		got[path.Base(source)] = append(got[path.Base(source)], reason)
		return nil
	})
	return got
}

// filesDone counts the files the directory source recorded as done.
func filesDone(t *testing.T, db string) int {
	t.Helper()
	n := 0
	peek(t, db, "SELECT count(*) FROM files", func(rows *sql.Rows) error { return rows.Scan(&n) })
	return n
}

// peakRSS is the process's resident high-water mark so far.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the bot's memory: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// serveUntilDone waits until the bot has read every input to its end
// (done), posted the good file's finding and set every bomb aside, then
// checks that it is still up and stayed within the memory target.
func serveUntilDone(t *testing.T, what string, emu *slackemu.Server, secops string, p *serveproc.Process, db string, done func() bool) {
	t.Helper()
	began := time.Now()
	posted := func() bool {
		for _, m := range emu.Messages(secops) {
			if strings.Contains(m.Text+string(m.Blocks), "payments-nightly") {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for !done() || !posted() {
		if !p.Alive() {
			t.Fatalf("the bot exited while reading the bombs:\n%s", p.Tail(4<<10))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("within 3 minutes: inputs read to the end %v, finding posted %v, set aside %q", done(), posted(), quarantined(t, db))
		case <-time.After(200 * time.Millisecond):
		}
	}
	took := time.Since(began)
	peak := peakRSS(t, p.Pid())
	t.Logf("serve through %s, two %d MiB bombs and a log file: peak RSS %.0f MiB, all read in %v", what, bombSize>>20, mib(peak), took.Round(100*time.Millisecond))
	if peak >= peakTarget {
		t.Errorf("serve peaked at %.0f MiB, over the %d MiB target", mib(peak), peakTarget>>20)
	}
	checkBombs(t, quarantined(t, db))
	if !p.Alive() {
		t.Errorf("the bot exited:\n%s", p.Tail(4<<10))
	}
}

func TestServeSetsBombsAsideFromTheDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bot and has it read 2 GiB of bombs")
	}
	bin := serveproc.Build(t)
	emu, secops := workspace(t)
	dir := t.TempDir()
	writeInputs(t, dir, time.Now())
	db := filepath.Join(t.TempDir(), "bot.db")
	config := serveConfig(t, emu, db, map[string]any{"dir": dir, "poll_interval": "500ms"})
	p := serveproc.Start(t, bin, "serve-dir", config, []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken, "SECOPS_SLACK_BOT_TOKEN=" + botToken,
	}, serveproc.Options{})
	// A file is recorded as done once it is read to its end.
	serveUntilDone(t, "ingest.dir", emu, secops, p, db, func() bool { return filesDone(t, db) == 3 })
}

func TestServeSetsBombsAsideFromS3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bot and has it read 2 GiB of bombs")
	}
	bin := serveproc.Build(t)
	emu, secops := workspace(t)
	awsConfig := func(endpoint string) aws.Config {
		return aws.Config{
			Region:       awsRegion,
			Credentials:  credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
			BaseEndpoint: aws.String(endpoint),
		}
	}
	sqsSrv := testserver.StartSQS(t, awsConfig)
	queueURL := sqsSrv.CreateQueue(t, "secops-events", 30)
	s3Endpoint := startS3(t)

	dir := t.TempDir()
	writeInputs(t, dir, time.Now())
	client := s3.NewFromConfig(awsConfig(s3Endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	for _, name := range []string{bombs[0].name, bombs[1].name, "good.json.gz"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		key := "AWSLogs/111122223333/CloudTrail/" + awsRegion + "/2024/03/05/" + name
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(trailBucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		sqsSrv.Send(t, queueURL, s3Notification(t, key, len(data)))
	}

	db := filepath.Join(t.TempDir(), "bot.db")
	config := serveConfig(t, emu, db, map[string]any{"sqs_queue_url": queueURL})
	p := serveproc.Start(t, bin, "serve-sqs", config, []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken, "SECOPS_SLACK_BOT_TOKEN=" + botToken,
		"AWS_ENDPOINT_URL_SQS=" + sqsSrv.Endpoint, "AWS_ENDPOINT_URL_S3=" + s3Endpoint,
		"AWS_ACCESS_KEY_ID=" + botAccessKey, "AWS_SECRET_ACCESS_KEY=" + botSecretKey,
		"AWS_REGION=" + awsRegion, "AWS_EC2_METADATA_DISABLED=true",
	}, serveproc.Options{})
	// A notification is deleted once its log file is read to its end.
	serveUntilDone(t, "SQS and S3", emu, secops, p, db, func() bool { return sqsSrv.Depth(t, queueURL, true) == 0 })
}

// startS3 runs versitygw with the bot's credentials until the test ends
// and returns its endpoint.
func startS3(t *testing.T) string {
	t.Helper()
	bin := testserver.Binary(t, "versitygw")
	port := testserver.FreePort(t)
	testserver.Start(t, port, bin,
		"--access", botAccessKey, "--secret", botSecretKey,
		"--region", awsRegion,
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"posix", t.TempDir())
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// s3Notification is the S3 event notification for a new log file; keys
// are form-encoded, as S3 sends them.
func s3Notification(t *testing.T, key string, size int) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1",
		"eventSource":  "aws:s3",
		"awsRegion":    awsRegion,
		"eventTime":    time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventName":    "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": trailBucket, "arn": "arn:aws:s3:::" + trailBucket},
			"object":          map[string]any{"key": url.QueryEscape(key), "size": size},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
