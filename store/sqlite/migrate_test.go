package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// TestMigrateEventsToActorOrder upgrades a database whose history an older
// binary wrote in the rowid layout of schema version 2, and checks that
// every event reads back as it was stored, in the same order, that stored
// events are still recognised as repeats, and that new events come after
// the old ones.
func TestMigrateEventsToActorOrder(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "secops.db")
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	old := &Store{w: w, clock: clk, log: zerolog.Nop()}
	if err := old.migrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	t0 := clk.Now().Add(-time.Hour).Unix()
	for _, q := range []string{
		`INSERT INTO dict_actor (id, v) VALUES (1, 'arn:aws:iam::111111111111:role/deploy'), (2, 'arn:aws:iam::111111111111:user/alice')`,
		`INSERT INTO dict_actor_type (id, v) VALUES (1, 'AssumedRole'), (2, 'IAMUser')`,
		`INSERT INTO dict_account (id, v) VALUES (1, '111111111111')`,
		`INSERT INTO dict_region (id, v) VALUES (1, 'eu-west-1')`,
		`INSERT INTO dict_api (id, source, name) VALUES (1, 's3.amazonaws.com', 'GetObject'), (2, 'iam.amazonaws.com', 'CreateAccessKey')`,
		`INSERT INTO dict_ip (id, v) VALUES (1, '198.51.100.7')`,
		`INSERT INTO dict_agent (id, v) VALUES (1, 'aws-cli/2.15.30')`,
		`INSERT INTO dict_resource (id, v) VALUES (1, 'arn:aws:s3:::reports')`,
		`INSERT INTO dict_access_key (id, v) VALUES (1, 'ASIAEXAMPLE')`,
		`INSERT INTO dict_source_identity (id, v) VALUES (1, 'alice@example.com')`,
		`INSERT INTO dict_error (id, v) VALUES (1, 'AccessDenied')`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	uuid := func(s string) any { return encodeEventID(s) }
	for _, r := range [][]any{
		// id, eid, t, actor, actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error, read_only
		{1, uuid("0b5e8a3c-1f0e-4a8e-9a43-000000000001"), t0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, nil, 1},
		{2, "not-a-uuid", t0, 1, 1, 1, 1, 2, 1, 1, nil, 1, nil, 1, 0},
		{3, uuid("0b5e8a3c-1f0e-4a8e-9a43-000000000003"), t0 + 60, nil, nil, 1, 1, 1, nil, nil, 1, nil, nil, nil, 1},
		{4, uuid("0b5e8a3c-1f0e-4a8e-9a43-000000000004"), t0 + 120, 2, 2, 1, 1, 1, 1, 1, nil, nil, nil, nil, 1},
	} {
		if _, err := w.ExecContext(ctx, `INSERT INTO events (id, eid, t, actor, actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error, read_only)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	deploy, alice := "arn:aws:iam::111111111111:role/deploy", "arn:aws:iam::111111111111:user/alice"
	e1 := store.Event{EventID: "0b5e8a3c-1f0e-4a8e-9a43-000000000001", Time: at(t0), ActorARN: deploy, ActorType: "AssumedRole",
		Account: "111111111111", Region: "eu-west-1", EventSource: "s3.amazonaws.com", EventName: "GetObject", SourceIP: "198.51.100.7",
		UserAgent: "aws-cli/2.15.30", ResourceARN: "arn:aws:s3:::reports", AccessKeyID: "ASIAEXAMPLE", SourceIdentity: "alice@example.com", ReadOnly: true}
	e2 := store.Event{EventID: "not-a-uuid", Time: at(t0), ActorARN: deploy, ActorType: "AssumedRole",
		Account: "111111111111", Region: "eu-west-1", EventSource: "iam.amazonaws.com", EventName: "CreateAccessKey", SourceIP: "198.51.100.7",
		UserAgent: "aws-cli/2.15.30", AccessKeyID: "ASIAEXAMPLE", ErrorCode: "AccessDenied"}
	e3 := store.Event{EventID: "0b5e8a3c-1f0e-4a8e-9a43-000000000003", Time: at(t0 + 60),
		Account: "111111111111", Region: "eu-west-1", EventSource: "s3.amazonaws.com", EventName: "GetObject", ResourceARN: "arn:aws:s3:::reports", ReadOnly: true}
	e4 := store.Event{EventID: "0b5e8a3c-1f0e-4a8e-9a43-000000000004", Time: at(t0 + 120), ActorARN: alice, ActorType: "IAMUser",
		Account: "111111111111", Region: "eu-west-1", EventSource: "s3.amazonaws.com", EventName: "GetObject", SourceIP: "198.51.100.7",
		UserAgent: "aws-cli/2.15.30", ReadOnly: true}

	query := func(q store.EventQuery) []store.Event {
		t.Helper()
		got, err := s.QueryEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		name string
		q    store.EventQuery
		want []store.Event
	}{
		// Newest first, and within a second the later arrival first, as
		// the rowid ordered them.
		{"all", store.EventQuery{}, []store.Event{e4, e3, e2, e1}},
		{"actor", store.EventQuery{ActorARN: deploy}, []store.Event{e2, e1}},
		{"resource", store.EventQuery{ResourceARN: "arn:aws:s3:::reports"}, []store.Event{e3, e1}},
		{"access key", store.EventQuery{AccessKeyID: "ASIAEXAMPLE"}, []store.Event{e2, e1}},
		{"source identity", store.EventQuery{SourceIdentity: "alice@example.com"}, []store.Event{e1}},
		{"account since", store.EventQuery{Account: "111111111111", Since: at(t0 + 1)}, []store.Event{e4, e3}},
	} {
		if got := query(tc.q); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	st, err := s.ActorStats(ctx, deploy, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 2 || st.APIs["iam.amazonaws.com:CreateAccessKey"].Count != 1 || st.SourceIPs["198.51.100.7"].Count != 2 {
		t.Errorf("stats of %s after the upgrade = %+v", deploy, st)
	}

	e5 := e2
	e5.EventID = "0b5e8a3c-1f0e-4a8e-9a43-000000000005"
	isNew, err := s.AddEvents(ctx, []store.Event{e1, e2, e3, e4, e5})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, false, false, false, true}; !slices.Equal(isNew, want) {
		t.Errorf("AddEvents after the upgrade reported new %v, want %v", isNew, want)
	}
	if got, want := query(store.EventQuery{ActorARN: deploy}), []store.Event{e5, e2, e1}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a new event in the same second: got %+v\nwant %+v", got, want)
	}
}
