package org

import (
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

func testDirectory(t *testing.T) *Directory {
	t.Helper()
	d, err := New(Options{
		SecOps:      TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Teams:       []TeamOptions{{Name: "payments", SlackChannel: "#team-payments", Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00", Holidays: []string{"2026-12-25"}}},
		Accounts:    []Account{{ID: "111122223333", Name: "payments-prod", Team: "payments", Environment: "production", ExpectedPublicBuckets: []string{"payments-static-*"}}},
		Trusted:     map[string]string{"777788889999": "backup-vendor"},
		Contractors: []string{"arn:aws:iam::*:role/contractor-*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestClassify(t *testing.T) {
	d := testDirectory(t)
	d.SetOrgAccounts(map[string]string{"555566667777": "logging"})
	tests := []struct {
		id   string
		want finding.TargetClass
	}{
		{"111122223333", finding.TargetKnown},
		{"555566667777", finding.TargetKnown},
		{"777788889999", finding.TargetTrusted},
		{"444455556666", finding.TargetUnknown},
		{"all", finding.TargetPublic},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := d.Classify(tc.id); got != tc.want {
				t.Fatalf("Classify(%s) = %s, want %s", tc.id, got, tc.want)
			}
		})
	}
}

func TestContractorAndExpected(t *testing.T) {
	d := testDirectory(t)
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"contractor role", d.IsContractor("arn:aws:iam::111122223333:role/contractor-alice"), true},
		{"contractor role under a path", d.IsContractor("arn:aws:iam::111122223333:role/ext/contractor-bob"), false},
		{"employee user", d.IsContractor("arn:aws:iam::111122223333:user/BackupManager"), false},
		{"expected bucket", ok(d.ExpectedPublicBucket("111122223333", "payments-static-eu")), true},
		{"unexpected bucket", ok(d.ExpectedPublicBucket("111122223333", "payments-exports")), false},
		{"unknown account", ok(d.ExpectedPublicBucket("999999999999", "payments-static-eu")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func ok(_ string, b bool) bool { return b }

func TestOffHours(t *testing.T) {
	d := testDirectory(t)
	team, found := d.OwnerOf("111122223333")
	if !found {
		t.Fatal("owner not found")
	}
	tests := []struct {
		at   string
		want bool
	}{
		{"2026-11-27T03:04:00Z", true},  // 04:04 Berlin
		{"2026-11-27T10:00:00Z", false}, // 11:00 Berlin, Friday
		{"2026-12-25T10:00:00Z", true},  // holiday
	}
	for _, tc := range tests {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := team.OffHours(at); got != tc.want {
			t.Errorf("OffHours(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"arn:aws:iam::*:role/contractor-*", "arn:aws:iam::111122223333:role/contractor-alice", true},
		{"*-public", "assets-public", true},
		{"a?c", "abc", true},
		{"a?c", "abbc", false},
		{"*", "", true},
		{"abc", "abcd", false},
	}
	for _, tc := range tests {
		if got := Glob(tc.p, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}
