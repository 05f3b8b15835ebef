package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/storetest"
)

func TestEventIDs(t *testing.T) {
	const id = "f9595781-8a7b-43ed-8a49-2f2b8a67697c"
	tests := []struct {
		name   string
		stored []string
		probe  string
		want   bool
	}{
		{"same UUID", []string{id}, id, true},
		{"other UUID", []string{id}, "f9595781-8a7b-43ed-8a49-2f2b8a67697d", false},
		{"uppercase is another ID", []string{id}, "F9595781-8A7B-43ED-8A49-2F2B8A67697C", false},
		{"uppercase stored", []string{"F9595781-8A7B-43ED-8A49-2F2B8A67697C"}, "F9595781-8A7B-43ED-8A49-2F2B8A67697C", true},
		{"not a UUID", []string{"event-1"}, "event-1", true},
		{"UUID without hyphens", []string{"f95957818a7b43ed8a492f2b8a67697c"}, id, false},
		{"hyphens misplaced", []string{"f959578-18a7b-43ed-8a49-2f2b8a67697c"}, "f959578-18a7b-43ed-8a49-2f2b8a67697c", true},
		{"nothing stored", nil, id, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := New()
			var evs []store.Event
			for _, id := range tt.stored {
				evs = append(evs, store.Event{EventID: id, Time: time.Unix(1, 0)})
			}
			if _, err := s.AddEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			got, err := s.HasEvents(ctx, []store.Event{{EventID: tt.probe}})
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != tt.want {
				t.Errorf("HasEvents(%q) after storing %q = %v, want %v", tt.probe, tt.stored, got[0], tt.want)
			}
			again, err := s.AddEvents(ctx, evs)
			if err != nil {
				t.Fatal(err)
			}
			for i, isNew := range again {
				if isNew {
					t.Errorf("event %q stored twice", tt.stored[i])
				}
			}
		})
	}
}

func TestActorStatsKeepsValues(t *testing.T) {
	ctx := context.Background()
	s := New()
	day := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	// Values cut from one buffer, as the decoder hands them out.
	buf := "arn:aws:iam::111122223333:user/alice 198.51.100.7 aws-cli/2 us-east-1 GetObject"
	evs := []store.Event{
		{EventID: "a", Time: day, ActorARN: buf[:36], SourceIP: buf[37:49], UserAgent: buf[50:59], Region: buf[60:69], EventName: buf[70:]},
		{EventID: "b", Time: day.Add(time.Hour), ActorARN: buf[:36], SourceIP: buf[37:49], UserAgent: buf[50:59], Region: "eu-west-1", EventName: buf[70:]},
		{EventID: "a", Time: day.Add(2 * time.Hour), ActorARN: buf[:36], SourceIP: "203.0.113.1"},
	}
	if _, err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	st, err := s.ActorStats(ctx, "arn:aws:iam::111122223333:user/alice", day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 2 || st.SourceIPs["198.51.100.7"].Count != 2 || len(st.SourceIPs) != 1 {
		t.Errorf("total %d, IPs %v: want 2 events from 198.51.100.7 (the repeat of event a ignored)", st.Total, st.SourceIPs)
	}
	if st.Regions["us-east-1"].Count != 1 || st.Regions["eu-west-1"].Count != 1 || st.APIs["GetObject"].Count != 2 || st.UserAgents["aws-cli/2"].Count != 2 {
		t.Errorf("regions %v, APIs %v, agents %v", st.Regions, st.APIs, st.UserAgents)
	}
}

func TestActorStatsKeepsTimes(t *testing.T) {
	ctx := context.Background()
	s := New()
	plus2 := time.FixedZone("", 2*3600)
	times := []time.Time{
		time.Date(2024, 3, 5, 10, 0, 0, 123, time.UTC),
		time.Date(2024, 3, 5, 13, 30, 0, 0, plus2),
		// A zone parsed again is a new *Location with the same offset.
		time.Date(2024, 3, 6, 9, 0, 0, 0, time.FixedZone("", 2*3600)),
	}
	for i, tm := range times {
		ev := store.Event{EventID: fmt.Sprint(i), Time: tm, ActorARN: "arn:aws:iam::111122223333:user/bob"}
		if _, err := s.AddEvents(ctx, []store.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.ActorStats(ctx, "arn:aws:iam::111122223333:user/bob", time.Time{}, times[2].Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstSeen != times[0] {
		t.Errorf("first seen %v, want %v", st.FirstSeen, times[0])
	}
	if !st.LastSeen.Equal(times[2]) || st.LastSeen.Format(time.RFC3339) != times[2].Format(time.RFC3339) {
		t.Errorf("last seen %v, want %v in the same zone", st.LastSeen, times[2])
	}
	if st.Total != 3 || st.Days != 2 || st.ByHourUTC[10] != 1 || st.ByHourUTC[11] != 1 || st.ByHourUTC[7] != 1 {
		t.Errorf("total %d, days %d, hours %v", st.Total, st.Days, st.ByHourUTC)
	}
}

func TestActorStatsAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	s := New()
	start := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	n := 2*histBlock + 1
	evs := make([]store.Event, n)
	for i := range evs {
		evs[i] = store.Event{EventID: fmt.Sprint(i), Time: start.Add(time.Duration(i) * time.Second), ActorARN: "arn:aws:iam::111122223333:user/carol", SourceIP: fmt.Sprint("10.0.0.", i%3)}
	}
	if _, err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	st, err := s.ActorStats(ctx, evs[0].ActorARN, start.Add(time.Second), start.Add(time.Duration(n)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != n-1 || !st.LastSeen.Equal(evs[n-1].Time) || len(st.SourceIPs) != 3 {
		t.Errorf("total %d, last seen %v, %d IPs; want %d events up to %v from 3 IPs", st.Total, st.LastSeen, len(st.SourceIPs), n-1, evs[n-1].Time)
	}
}

func TestKVConformance(t *testing.T) {
	storetest.RunKV(t, func(*testing.T, clock.Clock) storetest.KVStore { return New() })
}

// TestParseUUID checks the packed form against encoding/hex on UUIDs and
// on near misses: every digit position replaced by each byte that is not
// a lower-case hex digit.
func TestParseUUID(t *testing.T) {
	const id = "0123abcd-ef45-6789-a0b1-c2d3e4f5a6b7"
	want, _ := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	got, ok := parseUUID(id)
	if !ok || !bytes.Equal(got[:], want) {
		t.Fatalf("parseUUID(%q) = %x, %v; want %x", id, got, ok, want)
	}
	for i := range len(id) {
		if id[i] == '-' {
			continue
		}
		for c := range 256 {
			if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' {
				continue
			}
			bad := id[:i] + string([]byte{byte(c)}) + id[i+1:]
			if u, ok := parseUUID(bad); ok {
				t.Fatalf("parseUUID(%q) = %x, want a refusal", bad, u)
			}
		}
	}
	for _, s := range []string{"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "f9595781-8a7b-43ed-8a49-2f2b8a67697c"} {
		want, _ := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		if got, ok := parseUUID(s); !ok || !bytes.Equal(got[:], want) {
			t.Errorf("parseUUID(%q) = %x, %v; want %x", s, got, ok, want)
		}
	}
}

// TestUUIDSet checks membership across growth, with the all-zero UUID
// (which an empty slot cannot hold) among the members.
func TestUUIDSet(t *testing.T) {
	s := newUUIDSet()
	key := func(i int) uuid {
		var u uuid
		binary.BigEndian.PutUint64(u[8:], uint64(i)) // the 0th key is all zero
		return u
	}
	const n = 5000
	for i := 0; i < n; i += 2 {
		if !s.add(key(i)) {
			t.Fatalf("add(%d) said it was there", i)
		}
	}
	for i := range n {
		if got, want := s.has(key(i)), i%2 == 0; got != want {
			t.Fatalf("has(%d) = %v, want %v", i, got, want)
		}
		if got, want := s.add(key(i)), i%2 == 1; got != want {
			t.Fatalf("add(%d) = %v, want %v", i, got, want)
		}
	}
	if s.n != n-1 || !s.zero {
		t.Errorf("%d slots used and zero %v, want %d and true", s.n, s.zero, n-1)
	}
}
