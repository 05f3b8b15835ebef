package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

const (
	alice  = "arn:aws:iam::111111111111:user/alice"
	deploy = "arn:aws:iam::222222222222:role/Deploy"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// history is a small, tie-free history: six events of two actors across two
// accounts, resources, access keys and source identities, an hour apart.
func history() []store.Event {
	ev := func(id string, hour int, actor, account, resource, key, sourceIdentity string) store.Event {
		return store.Event{
			EventID:        id,
			Time:           t0.Add(time.Duration(hour) * time.Hour),
			Account:        account,
			Region:         "us-east-1",
			ActorARN:       actor,
			ActorType:      "IAMUser",
			AccessKeyID:    key,
			SourceIdentity: sourceIdentity,
			EventSource:    "s3.amazonaws.com",
			EventName:      "GetBucketPolicy",
			SourceIP:       "198.51.100.7",
			UserAgent:      "aws-cli/2.15.30",
			ResourceARN:    resource,
			ReadOnly:       true,
		}
	}
	return []store.Event{
		ev("0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f0001", 1, alice, "111111111111", "arn:aws:s3:::bucket-a", "AKIAALICE", ""),
		ev("0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f0002", 2, deploy, "222222222222", "arn:aws:s3:::bucket-b", "ASIADEPLOY1", "jdoe"),
		ev("0B5E8A3C-1F0E-4A8E-9A43-5D2B7F6F0003", 3, alice, "111111111111", "", "AKIAALICE", ""),
		ev("0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f0004", 4, deploy, "222222222222", "arn:aws:s3:::bucket-a", "ASIADEPLOY2", "jdoe"),
		ev("0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f0005", 5, alice, "222222222222", "arn:aws:s3:::bucket-b", "AKIAALICE", ""),
		ev("not-a-uuid-0006", 6, deploy, "222222222222", "", "ASIADEPLOY2", "msmith"),
	}
}

func eventIDs(events []store.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.EventID
	}
	return ids
}

func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("dedupe reports which events were new", func(t *testing.T) {
		e := newEnv(t, open)
		h := history()
		batches := []struct {
			name   string
			events []store.Event
			want   []bool
		}{
			{"first batch", h[0:2], []bool{true, true}},
			{"empty batch", nil, []bool{}},
			{"repeat and new", []store.Event{h[1], h[2], h[3]}, []bool{false, true, true}},
			{"repeat within a batch", []store.Event{h[4], h[4], h[0]}, []bool{true, false, false}},
		}
		for _, b := range batches {
			got, err := e.s.AddEvents(ctx, b.events)
			if err != nil {
				t.Fatalf("%s: AddEvents: %v", b.name, err)
			}
			if len(got) != len(b.want) || (len(got) > 0 && !reflect.DeepEqual(got, b.want)) {
				t.Fatalf("%s: AddEvents = %v, want %v", b.name, got, b.want)
			}
		}
		all, err := e.s.QueryEvents(ctx, store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := eventIDs(all), eventIDs([]store.Event{h[4], h[3], h[2], h[1], h[0]}); !slices.Equal(got, want) {
			t.Fatalf("stored events = %v, want %v", got, want)
		}
	})

	t.Run("HasEvents finds stored events by ID and time", func(t *testing.T) {
		e := newEnv(t, open)
		h := history()
		if _, err := e.s.AddEvents(ctx, h[:3]); err != nil {
			t.Fatal(err)
		}
		moved := h[0]
		moved.Time = moved.Time.Add(time.Hour)
		query := append(append([]store.Event{}, h...), moved)
		got, err := e.s.HasEvents(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		want := []bool{true, true, true, false, false, false, false}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("HasEvents = %v, want %v", got, want)
		}
		if got, err := e.s.HasEvents(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("HasEvents(nil) = %v, %v", got, err)
		}
	})

	t.Run("events round-trip every field", func(t *testing.T) {
		e := newEnv(t, open)
		full := store.Event{
			EventID: "6f1c2d3e-4b5a-4c7d-8e9f-a0b1c2d3e4f5", Time: t0.Add(90 * time.Minute),
			Account: "111111111111", Region: "eu-west-1", ActorARN: deploy, ActorType: "AssumedRole",
			AccessKeyID: "ASIAEXAMPLE", SourceIdentity: "breakglass-jdoe", EventSource: "rds.amazonaws.com",
			EventName: "ModifyDBSnapshotAttribute", SourceIP: "203.0.113.9", UserAgent: "Boto3/1.34.51",
			ResourceARN: "arn:aws:rds:eu-west-1:111111111111:snapshot:customers", ErrorCode: "AccessDenied",
		}
		sparse := store.Event{EventID: "sparse-1", Time: t0, ActorARN: deploy, ReadOnly: true}
		if _, err := e.s.AddEvents(ctx, []store.Event{full, sparse}); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.QueryEvents(ctx, store.EventQuery{ActorARN: deploy})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Event{full, sparse}
		if !equalEvents(got, want) {
			t.Fatalf("QueryEvents =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("query filters, order and limits", func(t *testing.T) {
		e := newEnv(t, open)
		h := history()
		if _, err := e.s.AddEvents(ctx, h); err != nil {
			t.Fatal(err)
		}
		at := func(hour int) time.Time { return t0.Add(time.Duration(hour) * time.Hour) }
		id := func(n ...int) []string {
			out := []string{}
			for _, i := range n {
				out = append(out, h[i-1].EventID)
			}
			return out
		}
		tests := []struct {
			name string
			q    store.EventQuery
			want []string
		}{
			{"everything newest first", store.EventQuery{}, id(6, 5, 4, 3, 2, 1)},
			{"actor", store.EventQuery{ActorARN: alice}, id(5, 3, 1)},
			{"resource", store.EventQuery{ResourceARN: "arn:aws:s3:::bucket-a"}, id(4, 1)},
			{"access key", store.EventQuery{AccessKeyID: "ASIADEPLOY2"}, id(6, 4)},
			{"source identity", store.EventQuery{SourceIdentity: "jdoe"}, id(4, 2)},
			{"account", store.EventQuery{Account: "222222222222"}, id(6, 5, 4, 2)},
			{"actor and account combine", store.EventQuery{ActorARN: alice, Account: "222222222222"}, id(5)},
			{"since is inclusive", store.EventQuery{ActorARN: alice, Since: at(3)}, id(5, 3)},
			{"until is exclusive", store.EventQuery{ActorARN: alice, Until: at(3)}, id(1)},
			{"since between seconds", store.EventQuery{ActorARN: alice, Since: at(3).Add(500 * time.Millisecond)}, id(5)},
			{"window without actor", store.EventQuery{Since: at(2), Until: at(5)}, id(4, 3, 2)},
			{"limit keeps the newest", store.EventQuery{Limit: 2}, id(6, 5)},
			{"limit with actor", store.EventQuery{ActorARN: deploy, Limit: 1}, id(6)},
			{"unknown actor", store.EventQuery{ActorARN: "arn:aws:iam::111111111111:user/nobody"}, id()},
			{"known actor, unknown resource", store.EventQuery{ActorARN: alice, ResourceARN: "arn:aws:s3:::nope"}, id()},
			{"empty window", store.EventQuery{ActorARN: alice, Since: at(6)}, id()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.QueryEvents(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if ids := eventIDs(got); !slices.Equal(ids, tc.want) {
					t.Fatalf("QueryEvents(%+v) = %v, want %v", tc.q, ids, tc.want)
				}
			})
		}
	})
}

func testActorStats(t *testing.T, open Opener) {
	ctx := context.Background()
	const bm = "arn:aws:iam::111111111111:user/BackupManager"
	const (
		cli  = "aws-cli/2.15.30 Python/3.11.8"
		boto = "Boto3/1.34.51"
		home = "198.51.100.24"
		odd  = "203.0.113.9"
	)
	day := func(d, hh, mm int) time.Time { return time.Date(2025, 3, d, hh, mm, 0, 0, time.UTC) }
	n := 0
	ev := func(actor string, at time.Time, ip, agent, region, source, name string) store.Event {
		n++
		return store.Event{
			EventID: fmt.Sprintf("stats-%02d", n), Time: at, ActorARN: actor, Account: "111111111111",
			SourceIP: ip, UserAgent: agent, Region: region, EventSource: source, EventName: name,
		}
	}
	events := []store.Event{
		ev(bm, day(1, 9, 10), home, cli, "us-east-1", "rds.amazonaws.com", "DescribeDBSnapshots"),
		ev(bm, day(1, 9, 40), home, cli, "us-east-1", "rds.amazonaws.com", "DescribeDBSnapshots"),
		ev(bm, day(1, 14, 0), home, cli, "eu-west-1", "rds.amazonaws.com", "DescribeDBInstances"),
		ev(bm, day(2, 9, 5), home, cli, "us-east-1", "rds.amazonaws.com", "DescribeDBSnapshots"),
		ev(bm, day(4, 3, 4), odd, boto, "us-east-1", "rds.amazonaws.com", "ModifyDBSnapshotAttribute"),
		ev(deploy, day(4, 3, 5), odd, boto, "us-east-1", "rds.amazonaws.com", "ModifyDBSnapshotAttribute"),
		ev(bm, day(4, 3, 10), odd, boto, "us-east-1", "rds.amazonaws.com", "ModifyDBSnapshotAttribute"),
		// No IP and no user agent: counted in totals, absent from those maps.
		ev(bm, day(4, 3, 20), "", "", "us-east-1", "sts.amazonaws.com", "GetCallerIdentity"),
	}
	vs := func(count, days int, first, last time.Time) store.ValueStats {
		return store.ValueStats{Count: count, Days: days, FirstSeen: first, LastSeen: last}
	}
	hours := func(kv ...int) (h [24]int) {
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	const (
		snapshots = "rds.amazonaws.com:DescribeDBSnapshots"
		instances = "rds.amazonaws.com:DescribeDBInstances"
		modify    = "rds.amazonaws.com:ModifyDBSnapshotAttribute"
		caller    = "sts.amazonaws.com:GetCallerIdentity"
	)
	tests := []struct {
		name         string
		actor        string
		since, until time.Time
		want         store.ActorStats
	}{
		{
			name: "whole history", actor: bm,
			want: store.ActorStats{
				Total: 7, Days: 3, FirstSeen: day(1, 9, 10), LastSeen: day(4, 3, 20),
				ByHourUTC: hours(3, 3, 9, 3, 14, 1),
				SourceIPs: map[string]store.ValueStats{
					home: vs(4, 2, day(1, 9, 10), day(2, 9, 5)),
					odd:  vs(2, 1, day(4, 3, 4), day(4, 3, 10)),
				},
				UserAgents: map[string]store.ValueStats{
					cli:  vs(4, 2, day(1, 9, 10), day(2, 9, 5)),
					boto: vs(2, 1, day(4, 3, 4), day(4, 3, 10)),
				},
				Regions: map[string]store.ValueStats{
					"us-east-1": vs(6, 3, day(1, 9, 10), day(4, 3, 20)),
					"eu-west-1": vs(1, 1, day(1, 14, 0), day(1, 14, 0)),
				},
				APIs: map[string]store.ValueStats{
					snapshots: vs(3, 2, day(1, 9, 10), day(2, 9, 5)),
					instances: vs(1, 1, day(1, 14, 0), day(1, 14, 0)),
					modify:    vs(2, 1, day(4, 3, 4), day(4, 3, 10)),
					caller:    vs(1, 1, day(4, 3, 20), day(4, 3, 20)),
				},
			},
		},
		{
			name: "window is since inclusive, until exclusive", actor: bm, since: day(2, 9, 5), until: day(4, 3, 10),
			want: store.ActorStats{
				Total: 2, Days: 2, FirstSeen: day(2, 9, 5), LastSeen: day(4, 3, 4),
				ByHourUTC:  hours(3, 1, 9, 1),
				SourceIPs:  map[string]store.ValueStats{home: vs(1, 1, day(2, 9, 5), day(2, 9, 5)), odd: vs(1, 1, day(4, 3, 4), day(4, 3, 4))},
				UserAgents: map[string]store.ValueStats{cli: vs(1, 1, day(2, 9, 5), day(2, 9, 5)), boto: vs(1, 1, day(4, 3, 4), day(4, 3, 4))},
				Regions:    map[string]store.ValueStats{"us-east-1": vs(2, 2, day(2, 9, 5), day(4, 3, 4))},
				APIs:       map[string]store.ValueStats{snapshots: vs(1, 1, day(2, 9, 5), day(2, 9, 5)), modify: vs(1, 1, day(4, 3, 4), day(4, 3, 4))},
			},
		},
		{
			name: "other actor is separate", actor: deploy,
			want: store.ActorStats{
				Total: 1, Days: 1, FirstSeen: day(4, 3, 5), LastSeen: day(4, 3, 5),
				ByHourUTC:  hours(3, 1),
				SourceIPs:  map[string]store.ValueStats{odd: vs(1, 1, day(4, 3, 5), day(4, 3, 5))},
				UserAgents: map[string]store.ValueStats{boto: vs(1, 1, day(4, 3, 5), day(4, 3, 5))},
				Regions:    map[string]store.ValueStats{"us-east-1": vs(1, 1, day(4, 3, 5), day(4, 3, 5))},
				APIs:       map[string]store.ValueStats{modify: vs(1, 1, day(4, 3, 5), day(4, 3, 5))},
			},
		},
		{name: "unknown actor", actor: "arn:aws:iam::111111111111:user/nobody"},
		{name: "empty window", actor: bm, since: day(5, 0, 0)},
	}
	e := newEnv(t, open)
	if _, err := e.s.AddEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.ActorStats(ctx, tc.actor, tc.since, tc.until)
			if err != nil {
				t.Fatal(err)
			}
			if !equalStats(got, tc.want) {
				t.Fatalf("ActorStats(%s) =\n%+v\nwant\n%+v", tc.actor, got, tc.want)
			}
		})
	}
}

// equalStats compares stats treating nil and empty maps alike: callers only
// range over them and read from them.
func equalStats(a, b store.ActorStats) bool {
	eqMap := func(x, y map[string]store.ValueStats) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || v.Count != w.Count || v.Days != w.Days || !v.FirstSeen.Equal(w.FirstSeen) || !v.LastSeen.Equal(w.LastSeen) {
				return false
			}
		}
		return true
	}
	return a.Total == b.Total && a.Days == b.Days && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) &&
		a.ByHourUTC == b.ByHourUTC && eqMap(a.SourceIPs, b.SourceIPs) && eqMap(a.UserAgents, b.UserAgents) &&
		eqMap(a.Regions, b.Regions) && eqMap(a.APIs, b.APIs)
}

// equalEvents compares events field by field, times by instant.
func equalEvents(a, b []store.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Time.Equal(y.Time) {
			return false
		}
		x.Time, y.Time = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}
