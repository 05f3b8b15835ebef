package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// mk builds a finding detected detect after its event at t0+at, acknowledged
// ack after detection (0: never) and resolved after open (0: still open).
func mk(team, rule string, at, detect, ack, open time.Duration) finding.Finding {
	ev := t0.Add(at)
	f := finding.Finding{
		ID: rule + team + at.String(), Team: team, Rule: rule, Status: finding.StatusOpen,
		Event: finding.EventRef{Time: ev}, FirstSeen: ev, OpenedAt: ev, DetectedAt: ev.Add(detect),
	}
	if ack > 0 {
		f.AckedBy, f.AckedAt = "U0ALICE", f.DetectedAt.Add(ack)
	}
	if open > 0 {
		f.Status, f.ResolvedAt, f.OpenFor = finding.StatusResolved, ev.Add(open), open
	}
	return f
}

func fixture() []finding.Finding {
	s, m, h := time.Second, time.Minute, time.Hour
	suppressed := mk("payments", "s3-bucket-public", 5*h, 30*s, 0, 0)
	suppressed.Status = finding.StatusSuppressed
	manual := mk("data", "rds-snapshot-shared", 6*h, 20*s, 2*m, 0)
	// Resolved by hand: ResolvedAt is known, OpenFor was not recorded.
	manual.Status, manual.ResolvedAt = finding.StatusResolved, manual.OpenedAt.Add(3*h)
	return []finding.Finding{
		mk("payments", "s3-bucket-public", 0, 40*s, 5*m, 14*m),
		mk("payments", "s3-bucket-public", h, 50*s, 10*m, 30*m),
		mk("payments", "s3-bucket-public", 2*h, 60*s, 0, 0),
		mk("payments", "rds-snapshot-shared", 3*h, 90*s, 1*m, 2*h),
		mk("", "s3-bucket-public", 4*h, 10*s, 0, 0),
		suppressed,
		manual,
		mk("payments", "s3-bucket-public", -48*h, 5*s, 0, 0), // before since
	}
}

func TestCompute(t *testing.T) {
	s, m, h := time.Second, time.Minute, time.Hour
	r := Compute(fixture(), t0)
	tests := []struct {
		name string
		got  Stats
		want Stats
	}{
		{"all", r.Total, Stats{Count: 6, Open: 2,
			Detect:  Durations{N: 6, Median: 40 * s, P90: 90 * s},
			Ack:     Durations{N: 4, Median: 2 * m, P90: 10 * m},
			Resolve: Durations{N: 4, Median: 30 * m, P90: 3 * h}}},
		{"team payments", find(t, r.ByTeam, "payments"), Stats{Count: 4, Open: 1,
			Detect:  Durations{N: 4, Median: 50 * s, P90: 90 * s},
			Ack:     Durations{N: 3, Median: 5 * m, P90: 10 * m},
			Resolve: Durations{N: 3, Median: 30 * m, P90: 2 * h}}},
		{"unowned accounts are grouped", find(t, r.ByTeam, Unowned), Stats{Count: 1, Open: 1,
			Detect: Durations{N: 1, Median: 10 * s, P90: 10 * s}}},
		{"rule s3-bucket-public", find(t, r.ByRule, "s3-bucket-public"), Stats{Count: 4, Open: 2,
			Detect:  Durations{N: 4, Median: 40 * s, P90: 60 * s},
			Ack:     Durations{N: 2, Median: 5 * m, P90: 10 * m},
			Resolve: Durations{N: 2, Median: 14 * m, P90: 30 * m}}},
		{"resolved by hand uses ResolvedAt", find(t, r.ByTeam, "data"), Stats{Count: 1,
			Detect:  Durations{N: 1, Median: 20 * s, P90: 20 * s},
			Ack:     Durations{N: 1, Median: 2 * m, P90: 2 * m},
			Resolve: Durations{N: 1, Median: 3 * h, P90: 3 * h}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("stats = %+v\nwant    %+v", tc.got, tc.want)
			}
		})
	}
	if r.Suppressed != 1 {
		t.Errorf("Suppressed = %d, want 1", r.Suppressed)
	}
	if all := Compute(fixture(), time.Time{}); all.Total.Count != 7 {
		t.Errorf("Compute with no since counted %d, want 7", all.Total.Count)
	}
}

func find(t *testing.T, rows []Row, name string) Stats {
	t.Helper()
	for _, r := range rows {
		if r.Name == name {
			return r.Stats
		}
	}
	t.Fatalf("no row %q in %+v", name, rows)
	return Stats{}
}

func TestPercentiles(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		in   []time.Duration
		want Durations
	}{
		{"none", nil, Durations{}},
		{"one", []time.Duration{7 * s}, Durations{N: 1, Median: 7 * s, P90: 7 * s}},
		{"even count takes the lower middle", []time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, Durations{N: 4, Median: 2 * s, P90: 4 * s}},
		{"ten values", []time.Duration{10 * s, 9 * s, 8 * s, 7 * s, 6 * s, 5 * s, 4 * s, 3 * s, 2 * s, 1 * s}, Durations{N: 10, Median: 5 * s, P90: 9 * s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarise(tc.in); got != tc.want {
				t.Fatalf("summarise = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWriters(t *testing.T) {
	r := Compute(fixture(), t0)
	var text, csvOut bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&csvOut, r); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		got  []byte
	}{{"report.golden.txt", text.Bytes()}, {"report.golden.csv", csvOut.Bytes()}} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tc.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Fatalf("%s differs (run with -update after review):\n%s", tc.file, tc.got)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{41 * time.Second, "41s"},
		{90 * time.Second, "1m 30s"},
		{14 * time.Minute, "14m"},
		{2*time.Hour + 5*time.Minute + 7*time.Second, "2h 5m"},
		{3*24*time.Hour + 4*time.Hour, "3d 4h"},
		{48 * time.Hour, "2d"},
	}
	for _, tc := range tests {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
