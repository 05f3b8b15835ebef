package catalogue_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/detect/sigma/catalogue"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// cases lists, for every catalogue rule, events it must raise and near
// misses it must not. The events are in testdata/, shaped as AWS documents
// them.
var cases = map[string]struct{ match, miss []string }{
	"root-account-use": {
		match: []string{"console-login-root.json", "root-api-call.json"},
		miss:  []string{"console-login-root-failed.json", "root-invoked-by-service.json", "kms-rotate-service-event.json", "console-login-iam-user-no-mfa.json"},
	},
	"console-login-without-mfa": {
		match: []string{"console-login-iam-user-no-mfa.json", "console-login-root.json"},
		miss:  []string{"console-login-iam-user-mfa.json", "console-login-iam-user-failed.json", "console-login-identity-center.json", "console-login-root-failed.json"},
	},
	"access-key-for-another-user": {
		match: []string{"create-access-key-for-other-user.json", "create-access-key-by-role.json"},
		miss:  []string{"create-access-key-own.json", "create-access-key-self-no-user-name.json", "create-access-key-denied.json"},
	},
	"admin-policy-attached": {
		match: []string{"attach-admin-to-role.json", "attach-admin-to-user.json", "attach-admin-to-group-govcloud.json"},
		miss:  []string{"attach-read-only-to-role.json", "attach-amplify-admin-to-role.json", "attach-admin-denied.json"},
	},
	"guardduty-detector-disabled": {
		match: []string{"guardduty-delete-detector.json", "guardduty-suspend-detector.json"},
		miss:  []string{"guardduty-resume-detector.json", "guardduty-update-frequency.json", "guardduty-delete-detector-denied.json"},
	},
	"config-recorder-stopped": {
		match: []string{"config-stop-recorder.json", "config-delete-recorder.json"},
		miss:  []string{"config-start-recorder.json", "config-stop-recorder-unknown-name.json"},
	},
	"kms-key-deletion-scheduled": {
		match: []string{"kms-schedule-key-deletion.json"},
		miss:  []string{"kms-cancel-key-deletion.json", "kms-schedule-key-deletion-already-pending.json", "kms-rotate-service-event.json"},
	},
	"ebs-default-encryption-disabled": {
		match: []string{"ebs-disable-default-encryption.json"},
		miss:  []string{"ebs-enable-default-encryption.json", "ebs-disable-default-encryption-dry-run.json"},
	},
	"vpc-flow-logs-deleted": {
		match: []string{"vpc-delete-flow-logs.json"},
		miss:  []string{"vpc-create-flow-logs.json", "vpc-delete-flow-logs-denied.json"},
	},
	"security-group-open-to-world": {
		match: []string{"sg-ingress-ipv4-world.json", "sg-ingress-ipv6-world.json"},
		miss:  []string{"sg-ingress-private.json", "sg-egress-world.json"},
	},
}

func record(t *testing.T, name string) *cloudtrail.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b := ingest.Parse(name, data)
	if len(b.Problems) > 0 || len(b.Records) != 1 {
		t.Fatalf("%s: %d records, problems %+v", name, len(b.Records), b.Problems)
	}
	return &b.Records[0]
}

func TestCatalogue(t *testing.T) {
	rules, err := catalogue.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(cases) {
		t.Errorf("%d rules in the catalogue, %d with cases", len(rules), len(cases))
	}
	for _, r := range rules {
		c, ok := cases[r.Name]
		if !ok {
			t.Errorf("rule %s (%s) has no test cases", r.Name, r.File)
			continue
		}
		for _, f := range c.match {
			t.Run(r.Name+"/"+f, func(t *testing.T) {
				if !r.Matches(record(t, f)) {
					t.Errorf("%s does not raise %s", r.Name, f)
				}
			})
		}
		for _, f := range c.miss {
			t.Run(r.Name+"/"+f, func(t *testing.T) {
				if r.Matches(record(t, f)) {
					t.Errorf("%s raises the near miss %s", r.Name, f)
				}
			})
		}
	}
}

// TestCatalogueTestdataUsed keeps every example event in use.
func TestCatalogueTestdataUsed(t *testing.T) {
	used := map[string]bool{}
	for _, c := range cases {
		for _, f := range append(c.match, c.miss...) {
			used[f] = true
		}
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !used[e.Name()] {
			t.Errorf("testdata/%s is used by no case", e.Name())
		}
	}
}

var uuid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCatalogueRulesAreComplete(t *testing.T) {
	rules, err := catalogue.All()
	if err != nil {
		t.Fatal(err)
	}
	set, problems := sigma.Compile(rules)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if set.Unindexed() != 0 {
		// Each names the events it watches, or (root use) the identity.
		t.Errorf("%d catalogue rules are tried on every record, want none", set.Unindexed())
	}
	for _, r := range rules {
		if !uuid.MatchString(r.ID) {
			t.Errorf("%s: id %q is not a UUID v4", r.File, r.ID)
		}
		if want := "catalogue/" + r.Name + ".yml"; r.File != want {
			t.Errorf("%s: name %q, want the file's name", r.File, r.Name)
		}
		if r.Title == "" || r.Description == "" || len(r.References) == 0 || len(r.FalsePositives) == 0 || r.Status != "stable" || r.Author != "secops-bot" {
			t.Errorf("%s: title, description, references, false positives, status stable and author are all required", r.File)
		}
		for _, ref := range r.References {
			if !strings.HasPrefix(ref, "https://docs.aws.amazon.com/") {
				t.Errorf("%s: reference %s is not AWS documentation", r.File, ref)
			}
		}
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		names []string
		want  int
		err   string
	}{
		{nil, 0, ""},
		{[]string{"all"}, len(cases), ""},
		{[]string{"root-account-use", "96e74d76-a503-4c80-b28e-02b7d2ae6b44"}, 2, ""},
		{[]string{"root-account-use", "root-acount-use"}, 0, `unknown catalogue rule "root-acount-use"; known: all, access-key-for-another-user`},
	}
	for _, tc := range tests {
		rules, err := catalogue.Select(tc.names)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Select(%v) error %v, want %q", tc.names, err, tc.err)
			}
			continue
		}
		if err != nil || len(rules) != tc.want {
			t.Errorf("Select(%v) = %d rules, %v; want %d", tc.names, len(rules), err, tc.want)
		}
	}
}
