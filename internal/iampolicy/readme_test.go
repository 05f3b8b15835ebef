package iampolicy

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

const readmePath = "../../README.md"

// readmeOptions is the deployment the README's policies are printed for:
// events from SQS (with the log files in S3), state reads, containment and
// backfill in every member account through the read-only member role and
// the write role. It is what `secops-bot iam-policy [--member |
// --member-write]` prints for a configuration with those features on.
var readmeOptions = Options{
	SQS:                 true,
	StateReads:          true,
	Containment:         true,
	Backfill:            true,
	OrgAccounts:         true,
	MemberRoleName:      "secops-bot-member",
	MemberWriteRoleName: "secops-bot-member-write",
}

// readmeBlock matches a policy the README shows between its markers.
var readmeBlock = regexp.MustCompile("(?s)(<!-- iam-policy (bot|member|member-write) -->\n```json\n)(.*?)(```\n<!-- end iam-policy -->)")

// TestREADMEPoliciesAreGenerated: the README's IAM policies are the ones
// iam-policy prints, so the documentation cannot list an action the code
// never calls or miss one it does. go test -update rewrites them.
func TestREADMEPoliciesAreGenerated(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	bot, member, write := Policies(readmeOptions)
	want := map[string][]byte{"bot": bot.JSON(), "member": member.JSON(), "member-write": write.JSON()}
	seen := map[string]bool{}
	out := readmeBlock.ReplaceAllFunc(raw, func(m []byte) []byte {
		g := readmeBlock.FindSubmatch(m)
		which := string(g[2])
		seen[which] = true
		if !bytes.Equal(g[3], want[which]) {
			if !*update {
				t.Errorf("the README's %s policy differs from what iam-policy prints (run go test ./internal/iampolicy -update and review the diff); want:\n%s", which, want[which])
			}
		}
		return bytes.Join([][]byte{g[1], want[which], g[4]}, nil)
	})
	for _, which := range []string{"bot", "member", "member-write"} {
		if !seen[which] {
			t.Errorf("the README has no <!-- iam-policy %s --> block", which)
		}
	}
	if *update && !bytes.Equal(out, raw) {
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
